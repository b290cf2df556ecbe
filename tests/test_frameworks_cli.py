"""Every installed framework through the real CLI, on a slice of the real data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.conftest import INSTALLED_FRAMEWORKS, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

INSTALLED = INSTALLED_FRAMEWORKS
SLICE = ("data.train_size=2048", "data.test_size=1000", "progress=false")


@pytest.mark.parametrize("framework", [f for f in INSTALLED if f != "torch"])  # torch: tests/test_cli.py
def test_two_epoch_run_writes_the_documented_parquet(framework, tmp_path):
    out = run_cli(f"framework={framework}", "epochs=2", f"results_dir={tmp_path}", *SLICE)
    assert out.returncode == 0, out.stderr
    df = pd.read_parquet(tmp_path)
    assert df["framework"].unique().tolist() == [framework] and df["epoch"].tolist() == [0, 1]
    assert df["step"].tolist() == [8, 16] and (df["status"] == "complete").all()
    assert df["lr"].tolist() == pytest.approx([0.3, 0.01 + 0.29 * (1 + math.cos(math.pi / 20)) / 2])
    assert df["train_acc"].between(0, 1).all() and df["test_acc"].between(0, 1).all()
    assert df["device"].iloc[0] == "cpu" and df["framework_version"].iloc[0][0].isdigit()
    assert not df["tf32"].iloc[0]


@pytest.mark.slow
def test_one_epoch_at_lr_001_gives_the_same_train_loss_in_every_framework(tmp_path):
    losses = {}
    for framework in INSTALLED:
        out = run_cli(f"framework={framework}", "scheduler=constant", "scheduler.base_lr=0.01", "epochs=1", "seed=3",
                      f"results_dir={tmp_path / framework}", *SLICE)
        assert out.returncode == 0, out.stderr
        losses[framework] = pd.read_parquet(tmp_path / framework)["train_loss"].iloc[0]
    for framework, loss in losses.items():
        assert loss == pytest.approx(losses["torch"], rel=1e-5), (framework, losses)
