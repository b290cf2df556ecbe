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
HEADERS = ("framework", "schedule", "chosen base_lr", "val_acc (grid runs)", "retrained: epochs",
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
    if table.empty or table.groupby(["framework", "scheduler"]).base_lr.nunique().max() < 2:
        return None
    chosen = tuning.select(table)
    last = df[df.status == "complete"].sort_values("epoch").groupby("run_id").tail(1)
    grid_runs = with_split[with_split["epochs"] == budget]
    rows = []
    for row in chosen.itertuples():
        # a retrain is the grid point's settings (schedule, rate, unit, optimizer) at a longer budget
        # with no split, one cell of one budget: not whatever else ran that schedule at that rate
        point = grid_runs[(grid_runs.framework == row.framework) & (grid_runs.scheduler == row.scheduler)
                          & (grid_runs.base_lr == row.base_lr)]
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
        rows.append([fw_label(row.framework), str(row.scheduler), f"{row.base_lr:g}",
                     f"{pct(row.val_acc, 2)} ({int(row.runs)} seed{'s' if int(row.runs) != 1 else ''}, mean)", *tested])
    return TuningChoice(budget, table, chosen, rows)


def tuning_png(t: TuningChoice) -> bytes:
    """The grid's figure: val_acc against base rate, the chosen rates starred."""
    from harness import tuning

    return tuning.grid_figure(t.table, t.chosen)


def tuning_blocks(t: TuningChoice) -> list[Block]:
    return [Heading(2, "Tuning on validation, tested once"),
            Paragraph(f"Each schedule's base rate is chosen on the final validation accuracy of a {t.budget}-epoch "
                      f"grid (ties: the lower validation loss); no test metric chose anything.", "notes", markup=False),
            Figure(TUNING_PNG, "tuning grid"),
            Table(tuple(Column(h) for h in HEADERS), tuple(TableRow(tuple(TableCell(c) for c in r)) for r in t.rows),
                  scroll=False)]
