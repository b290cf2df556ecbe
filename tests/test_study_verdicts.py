"""A study reads each run's verdict by today's rules, not the ``verdict`` column written the day it trained
(upgrades never retrain a run, so the column keeps old rules): a run the rules now call failed is out of
the study's means and counted as failed."""

from __future__ import annotations

import pandas as pd

from harness.studies import grid, outcomes


def rows() -> pd.DataFrame:
    # The warmup_at_1024 study's SGD + warmup seed 3 (stored "too_short" when it trained), and a run that learned.
    base = {"status": "complete", "epochs": 2, "val_loss": None, "val_acc": None}
    return pd.DataFrame([
        {**base, "run_id": "fell", "epoch": 0, "train_loss": 2.278, "train_acc": 0.134, "test_loss": 2.3, "test_acc": 0.103, "verdict": "too_short"},
        {**base, "run_id": "fell", "epoch": 1, "train_loss": 2.655, "train_acc": 0.196, "test_loss": 2.4, "test_acc": 0.100, "verdict": "too_short"},
        {**base, "run_id": "ok", "epoch": 0, "train_loss": 2.0, "train_acc": 0.3, "test_loss": 1.6, "test_acc": 0.45, "verdict": "too_short"},
        {**base, "run_id": "ok", "epoch": 1, "train_loss": 1.5, "train_acc": 0.5, "test_loss": 1.3, "test_acc": 0.55, "verdict": "too_short"},
    ])


def test_a_study_judges_each_run_by_todays_rules():
    last = outcomes.last_rows(rows()).set_index("run_id")
    assert last.loc["fell", "verdict"] == "collapsed" and last.loc["ok", "verdict"] == "too_short"
    frame = rows().assign(arm="sgd+warmup", rate=0.3, seed=[3, 3, 0, 0], schedule_params="{}", base_lr=0.3)
    judged = grid.last_rows(frame).set_index("run_id")
    assert bool(judged.loc["fell", "failed"]) and not bool(judged.loc["ok", "failed"])
