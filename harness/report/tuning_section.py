"""experiments/tune_lr in the report: the grid on validation (val_acc against base rate, the
choice starred), then, apart, the test accuracy of each chosen setting retrained with a longer
budget, when its runs are in the folders reported."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.report.blocks import Block, Column, Figure, Heading, Paragraph, Table, TableCell, TableRow
from harness.report.findings import pct
from harness.report.load import fw_label

TUNING_PNG = "tuning_grid.png"
HEADERS = ("setting", "chosen base_lr", "val_acc (grid runs)", "note", "retrained: epochs",
           "retrained: test_acc (runs)")


@dataclass(frozen=True)
class TuningChoice:
    budget: int  # epochs of the grid's runs
    table: pd.DataFrame  # harness.tuning.grid of the grid's runs
    chosen: pd.DataFrame  # harness.tuning.select of it
    rows: list[list[str]]  # per chosen setting: the table's cells


def tuning_choice(df: pd.DataFrame) -> TuningChoice | None:
    """The grid (the shortest budget of the runs with a validation split), each schedule's chosen
    rate and its retrain where one ran; None when no grid is there."""
    from harness import tuning

    with_split = df[df["val_acc"].notna()]
    if with_split.empty:
        return None
    budget = int(with_split["epochs"].min())  # the grid's short budget; a retrain runs longer
    table = tuning.grid(with_split[with_split["epochs"] == budget])
    if table.empty or table.groupby("setting").base_lr.nunique().max() < 2:
        return None
    chosen = tuning.select(table)
    last = df[df.status == "complete"].sort_values("epoch").groupby("run_id").tail(1)
    grid_runs = tuning.with_settings(with_split[with_split["epochs"] == budget])  # labelled once, read per choice
    rows = []
    for _, row in chosen.iterrows():
        # a retrain is the grid point's setting (everything but the seed and the rate: harness.tuning's
        # SETTING_COLUMNS) at a longer budget with no split: one setting of one budget, never pooled
        point = grid_runs[(grid_runs["setting"] == row.setting) & (grid_runs["base_lr"] == row.base_lr)]
        same = last[(last.framework == row.framework) & (last.scheduler == row.scheduler)
                    & (last.base_lr == row.base_lr) & (last.epochs > budget) & last.val_acc.isna()]
        for col in ("unit", "optimizer", "optimizer_params", "model", "batch_size"):
            if col in same and col in point:
                same = same[same[col].isin(set(point[col]))]
        if len(same):
            longest = same[same.epochs == same.epochs.max()]
            if "train_size" in longest:
                longest = longest[longest.train_size == longest.train_size.max()]
            n = longest.run_id.nunique()
            tested = [f"{int(longest.epochs.iloc[0])}",
                      f"{pct(longest.test_acc.mean(), 2)} ({'mean of ' + str(n) + ' seeds' if n > 1 else 'one seed'})"]
        else:
            tested = ["—", "not in these folders (run the printed retrain, report both folders)"]
        seeds = int(row.seeds)
        label = fw_label(row.framework) + str(row.setting_label)[len(str(row.framework)):]
        rows.append([label, f"{row.base_lr:g}",
                     f"{pct(row.val_acc, 2)} ({seeds} seed{'s' if seeds != 1 else ''}, mean)",
                     "; ".join(tuning.choice_notes(row)) or "—", *tested])
    return TuningChoice(budget, table, chosen, rows)


def tuning_png(t: TuningChoice) -> bytes:
    """The grid's figure: val_acc against base rate, the chosen rates starred."""
    from harness import tuning

    return tuning.grid_figure(t.table, t.chosen)


def tuning_blocks(t: TuningChoice) -> list[Block]:
    return [Heading(2, "Tuning on validation, tested once"),
            Paragraph(f"Each setting's base rate is chosen on the final validation accuracy of a {t.budget}-epoch "
                      f"grid (ties: the lower validation loss); a setting is everything but the seed and the rate "
                      f"(optimizer, schedule shape and warmup, unit, batch size, data sizes, model), so runs that differ "
                      f"in any of them are never averaged together. No test metric chose anything.", "notes",
                      markup=False),
            Figure(TUNING_PNG, "tuning grid"),
            Table(tuple(Column(h) for h in HEADERS), tuple(TableRow(tuple(TableCell(c) for c in r)) for r in t.rows),
                  scroll=False)]
