"""The command line, end to end, in subprocesses on slices of the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.schedules import cosine, epoch_learning_rates
from harness.schema import scheduler_kinds  # the options, each a registered kind (tests/test_schedules.py)
from tests.conftest import PROJECT_ROOT, main_in_fresh_python, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

SLICE = ("data.train_size=2048", "data.test_size=1000", "progress=false")


def test_help_lists_groups_and_imports_no_framework():
    out, _, frameworks = main_in_fresh_python(["--help"], timeout=60)
    assert frameworks == []
    assert f"scheduler: {', '.join(sorted(scheduler_kinds()))}" in out.stdout
    assert "framework: mxnet, tf, torch" in out.stdout


def test_single_run_writes_the_documented_parquet(tmp_path):
    out = run_cli("framework=torch", "scheduler=cosine", "scheduler.unit=step", "scheduler.total_steps=20",
                  "epochs=2", f"results_dir={tmp_path}", *SLICE)
    assert out.returncode == 0, out.stderr
    # Named by optimizer, rate and what differs from the option's YAML (here the unit).
    assert out.stdout.strip().splitlines()[-1].startswith("harness: complete: torch cosine (sgd, lr=0.3, unit=step) seed=0, 2 epochs")
    assert str(tmp_path) in out.stdout

    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert run_dir.name.startswith("torch-cosine-s0-")
    assert sorted(p.name for p in run_dir.iterdir()) == ["_config.yaml", "epochs.parquet"]
    df = pd.read_parquet(tmp_path)
    assert len(df) == 2 and df["epoch"].tolist() == [0, 1]
    assert df["step"].tolist() == [8, 16]  # 2048 / 256 updates per epoch
    assert (df["status"] == "complete").all() and df["run_id"].nunique() == 1
    assert df["run_id"].iloc[0] in run_dir.name
    assert (df[["framework", "model", "scheduler", "optimizer"]].iloc[0].tolist()) == ["torch", "lenet", "cosine", "sgd"]
    assert df["device"].iloc[0] == "cpu" and df["framework_version"].iloc[0].startswith("2.")
    assert (df["train_size"] == 2048).all() and (df["test_size"] == 1000).all()
    for column in ("train_acc", "test_acc"):
        assert df[column].between(0, 1).all()
    assert (df["train_loss"] > 0).all() and (df["train_time_s"] > 0).all() and (df["eval_time_s"] > 0).all()
    # The learning rate of every update equals the schedule (unit=step: t counts updates).
    schedule = cosine(0.3, 0.01, 20)
    for epoch, lrs in enumerate(df["step_lrs"]):
        np.testing.assert_array_equal(lrs, epoch_learning_rates(schedule, "step", epoch, 8))
    assert df["lr"].tolist() == [schedule(0), schedule(8)]
    assert (tmp_path / run_dir.name / "_config.yaml").read_text().count("total_steps: 20") == 1


def test_multirun_writes_one_directory_per_run_readable_at_once(tmp_path):
    out = run_cli("-m", "scheduler=constant,cosine", "epochs=2", f"results_dir={tmp_path}", *SLICE)
    assert out.returncode == 0, out.stderr
    dirs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(dirs) == 2 and dirs[0].startswith("torch-constant-s0-") and dirs[1].startswith("torch-cosine-s0-")
    df = pd.read_parquet(tmp_path)
    assert sorted(df.groupby("scheduler").size().items()) == [("constant", 2), ("cosine", 2)]
    assert df[df.scheduler == "constant"]["lr"].tolist() == [0.3, 0.3]
    # Same seed, same initial weights and batches: the first epoch differs only through the rate.
    assert df.groupby("scheduler")["lr"].first().to_dict() == {"constant": 0.3, "cosine": 0.3}
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(f"select count(*), count(distinct run_id) from read_parquet('{tmp_path}/**/*.parquet')").fetchall()[0]
    assert rows == (4, 2)
    polars = pytest.importorskip("polars")
    assert polars.read_parquet(f"{tmp_path}/**/*.parquet").height == 4
    assert not list(PROJECT_ROOT.glob("outputs")) and not list(PROJECT_ROOT.glob("multirun"))


def test_bad_input_is_one_line_and_changes_nothing(tmp_path):
    before = sorted(tmp_path.rglob("*"))
    out = run_cli("scheduler=cosin", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"harness: error: scheduler='cosin' is unknown (did you mean 'cosine'?); choose one of: {', '.join(sorted(scheduler_kinds()))}"
    )
    assert "Traceback" not in out.stderr and sorted(tmp_path.rglob("*")) == before
