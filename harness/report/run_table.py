"""One row per run: its identity, every setting that defines its series, its status and outcome.

A run's settings (``SETTINGS_KEYS``: the schedule and its parameters, the optimizer and its
parameters, the budget and the network) are folded into one ``settings_key``: runs are pooled
into a series only when that key is equal (harness.report.series labels them).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from harness.report.load import params_of
from harness.report.metrics import EPOCHS_TO_TARGET

# "the last 5 epochs": a constant rate's last-epoch snapshot swings about a point; their mean does not
LAST_K = 5

# what the schedule was (its label, ``variant``, is derived from these and is not a setting: two
# label texts for equal parameters, say from an older writer, must not split a cell)
SCHEDULE_KEYS = ["scheduler", "schedule_params", "base_lr", "unit"]
OPTIMIZER_KEYS = ["optimizer", "optimizer_params"]
CONTEXT_KEYS = ["dataset", "epochs_planned", "train_size", "test_size", "batch_size", "model", "model_hash"]
SETTINGS_KEYS = SCHEDULE_KEYS + OPTIMIZER_KEYS + CONTEXT_KEYS


def plain_value(v):
    """A parquet value as plain Python: None for a missing one, a numpy scalar as its Python value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def summarise_runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: identity, settings, status, epochs done, final/best test accuracy, gap,
    epochs to 88%."""
    from harness.verdicts import judge_runs

    verdicts = judge_runs(df).set_index("run_id")
    rows = []
    for run_id, g in df.groupby("run_id", sort=False):
        g = g.sort_values("epoch")
        last = g.iloc[-1]
        params = params_of(last.schedule_params)
        rows.append(
            {
                "run_id": run_id,
                "protocol": last.protocol,
                "dataset": last.dataset,
                "framework": last.framework,
                "framework_version": last.framework_version,
                "device": last.device,
                "tf32": last.tf32,
                "scheduler": last.scheduler,
                "kind": params.get("kind", last.scheduler),
                "variant": last.variant,
                "schedule_params": last.schedule_params,
                "optimizer": last.optimizer,
                "optimizer_params": last.optimizer_params,
                "model_hash": plain_value(last.model_hash),
                "seed": int(last.seed),
                "status": last.status,
                "epochs_planned": int(last.epochs),
                "epochs_done": len(g),
                "steps_per_epoch": len(g.step_lrs.iloc[0]) if g.step_lrs.iloc[0] is not None else None,
                "train_size": int(last.train_size),
                "test_size": int(last.test_size),
                "batch_size": int(last.batch_size),
                "unit": last.unit,
                "base_lr": float(last.base_lr),
                "model": last.model,
                "git_sha": last.git_sha,
                "final_test_acc": float(last.test_acc),
                "final_train_acc": float(last.train_acc),
                "final_train_loss": float(last.train_loss),
                "best_test_acc": float(g.test_acc.max()),
                "last5_test_acc": float(g.test_acc.tail(LAST_K).mean()),
                "verdict": verdicts.loc[run_id, "verdict"],
                "verdict_reason": verdicts.loc[run_id, "reason"],
                "epochs_to_target": EPOCHS_TO_TARGET.compute(g),
            }
        )
    runs = _fill_unknown(pd.DataFrame(rows))
    runs["settings_key"] = [json.dumps([plain_value(v) for v in r], default=str)
                            for r in runs[SETTINGS_KEYS].itertuples(index=False)]
    return runs


def _fill_unknown(runs: pd.DataFrame) -> pd.DataFrame:
    """A run that does not record its schedule parameters, optimizer parameters or network hash
    (an old file without its _config.yaml) has the one value the other runs of the same schedule,
    optimizer or model record, when there is exactly one: unknown is not a different setting."""
    runs = runs.copy()
    for col, by in (("schedule_params", ["scheduler", "base_lr", "unit"]), ("optimizer_params", ["optimizer"]),
                    ("model_hash", ["model"])):
        values = [v if isinstance(v, str) else None for v in runs[col]]
        known: dict[tuple, set] = {}
        for key, v in zip(runs[by].itertuples(index=False), values):
            if v is not None:
                known.setdefault(tuple(key), set()).add(v)
        runs[col] = pd.Series([v if v is not None else (next(iter(known[tuple(k)])) if len(known.get(tuple(k), ())) == 1
                                                         else None)
                               for k, v in zip(runs[by].itertuples(index=False), values)], index=runs.index, dtype=object)
    return runs
