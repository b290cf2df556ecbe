"""Runs that survive: resume after SIGKILL, idempotent sweeps, rerun, divergence, determinism."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, framework_installed, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

TIMING = ["train_time_s", "eval_time_s", "git_sha"]  # when and with which commit, not what
SLICE = ("data.train_size=8192", "data.test_size=1000", "progress=false")


def skip_unless_installed(framework):
    if not framework_installed(framework):
        pytest.skip(f"{framework} is not installed")


def table(results_dir):
    return pd.read_parquet(results_dir).sort_values(["run_id", "epoch"]).reset_index(drop=True)


def start(results_dir, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args, f"results_dir={results_dir}", *SLICE],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def kill_after_first_checkpoint(results_dir, *args):
    process = start(results_dir, *args)
    deadline = time.time() + 120
    while not list(results_dir.glob("*/_checkpoint.npz")):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(0.15)  # into the next epoch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "tf", "mxnet"])
def test_sigkill_then_same_command_continues_and_equals_an_uninterrupted_run(framework, tmp_path):
    skip_unless_installed(framework)
    args = (f"framework={framework}", "epochs=4")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli(*args, f"results_dir={straight}", *SLICE).returncode == 0

    kill_after_first_checkpoint(killed, *args)
    interrupted = table(killed)
    assert (interrupted["status"] == "running").all() and len(interrupted) < 4

    out = run_cli(*args, f"results_dir={killed}", *SLICE)
    assert out.returncode == 0, out.stderr
    assert re.search(r"harness: complete: \S+ cosine \(sgd, lr=0.3\) seed=0, 4 epochs \([123] of them done before a resume\)",
                     out.stdout)
    resumed, expected = table(killed), table(straight)
    assert len(resumed) == 4 and (resumed["status"] == "complete").all()
    # Value for value, timing aside: the same weights, batches and rates give the same numbers.
    pd.testing.assert_frame_equal(resumed.drop(columns=TIMING), expected.drop(columns=TIMING))
    assert not list(killed.glob("*/_checkpoint*")), "a finished run keeps no checkpoint"


def test_keep_checkpoint_keeps_it_and_it_loads_without_pickle(tmp_path):
    from harness.checkpoint import load

    out = run_cli("epochs=1", "keep_checkpoint=true", f"results_dir={tmp_path}", "data.train_size=1024",
                  "data.test_size=500", "progress=false")
    assert out.returncode == 0, out.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("_")]
    saved = load(run_dir)
    assert saved.epoch == 0 and saved.step == 4 and saved.run_id in run_dir.name
    assert saved.state["0.weight"].shape == (6, 1, 5, 5) and len(saved.state) == 10


def test_finished_sweep_trains_nothing_and_a_half_done_one_trains_the_rest(tmp_path):
    args = ("-m", "scheduler=constant,cosine", "epochs=1", f"results_dir={tmp_path}", "data.train_size=1024",
            "data.test_size=500", "progress=false")
    first = run_cli(*args[:1], "scheduler=constant", *args[2:])  # half the sweep
    assert first.returncode == 0, first.stderr
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("epochs.parquet")}
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("harness: skipped:") == 1 and second.stdout.count("harness: complete:") == 1
    assert "sweep done: 2 runs: 1 complete, 1 skipped" in second.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in before.items()), "the finished run was not rewritten"
    third = run_cli(*args)
    assert "sweep done: 2 runs: 2 skipped" in third.stdout
    assert len(table(tmp_path)) == 2


def test_rerun_trains_again_and_keeps_the_old_results_aside(tmp_path):
    args = ("epochs=1", f"results_dir={tmp_path}", "data.train_size=1024", "data.test_size=500", "progress=false")
    assert run_cli(*args).returncode == 0
    out = run_cli(*args, "rerun=true")
    assert out.returncode == 0 and "moved to" in out.stdout and "harness: complete:" in out.stdout
    kept = list((tmp_path / "_superseded").glob("*/epochs.parquet.superseded"))
    assert len(kept) == 1
    assert len(table(tmp_path)) == 1  # the kept copy is invisible to parquet readers


def test_divergence_is_a_result_and_the_sweep_goes_on(tmp_path):
    out = run_cli("-m", "scheduler=constant", "scheduler.base_lr=100,0.1", "epochs=2", f"results_dir={tmp_path}",
                  "data.train_size=1024", "data.test_size=500", "progress=false")
    assert out.returncode == 0, out.stderr
    df = table(tmp_path)
    diverged = df[df["base_lr"] == 100]
    assert (diverged["status"] == "diverged").all() and diverged["epoch"].tolist() == [0]
    assert (df[df["base_lr"] == 0.1]["status"] == "complete").all()
    assert "1 complete, 1 diverged" in out.stdout


CORRUPT_ARGS = ("-m", "scheduler=constant,cosine", "epochs=2", "keep_checkpoint=true", "data.train_size=1024",
                "data.test_size=500", "progress=false")


def _interrupted_after_epoch_0(tmp_path, damaged):
    """A finished constant run made to look killed after epoch 0 (so its checkpoint would be used),
    with ``damaged`` overwritten by half a file; returns the run folder and its intact rows."""
    from harness.results import read_epochs, write_epochs

    assert run_cli(*CORRUPT_ARGS, f"results_dir={tmp_path}").returncode == 0
    (run_dir,) = tmp_path.glob("torch-constant-*")
    rows = read_epochs(run_dir)[:1]
    rows[0]["status"] = "running"
    write_epochs(run_dir, rows)
    (run_dir / damaged).write_bytes(b"PAR1 half a file")
    return run_dir, rows


def test_a_corrupt_parquet_is_set_aside_the_run_trains_again_and_the_sweep_goes_on(tmp_path):
    run_dir, _ = _interrupted_after_epoch_0(tmp_path, "epochs.parquet")
    out = run_cli(*CORRUPT_ARGS, f"results_dir={tmp_path}")

    assert out.returncode == 0, out.stderr
    assert f"harness: note: unreadable results of torch constant seed=0 moved to {tmp_path}/_corrupt/" in out.stdout
    assert "sweep done: 2 runs: 1 complete, 1 skipped" in out.stdout
    kept = list((tmp_path / "_corrupt").glob(f"{run_dir.name}.*/epochs.parquet*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"PAR1 half")
    df = table(tmp_path)
    assert len(df) == 4 and (df["status"] == "complete").all()  # the set-aside copy is not read


def test_a_corrupt_checkpoint_never_moves_the_intact_rows(tmp_path):
    from harness.results import read_epochs

    run_dir, rows = _interrupted_after_epoch_0(tmp_path, "_checkpoint.npz")
    out = run_cli(*CORRUPT_ARGS, f"results_dir={tmp_path}")

    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "_corrupt").exists(), "nothing is set aside: the rows were intact"
    notes = [line for line in out.stderr.splitlines() if "checkpoint" in line]
    assert len(notes) == 1 and notes[0].startswith(
        f"harness: note: the checkpoint of torch constant seed=0 in {run_dir}/ is unreadable and was removed ("), notes
    assert notes[0].endswith("its 1 epoch of rows are kept until retrained, and the run trains again from epoch 0 "
                             "(no earlier state to resume from)"), notes[0]
    assert "sweep done: 2 runs: 1 complete, 1 skipped" in out.stdout
    again = read_epochs(run_dir)
    assert [r["epoch"] for r in again] == [0, 1] and {r["status"] for r in again} == {"complete"}
    # Trained again from the start on the same batches: epoch 0 gives the row it replaced.
    assert again[0]["train_loss"] == rows[0]["train_loss"] and again[0]["test_acc"] == rows[0]["test_acc"]


@pytest.mark.parametrize("framework", ["torch", "tf", "mxnet"])
def test_same_config_twice_gives_identical_metrics_on_cpu(framework, tmp_path):
    skip_unless_installed(framework)
    args = (f"framework={framework}", "epochs=2", "data.train_size=2048", "data.test_size=500", "progress=false")
    for name in ("a", "b"):
        assert run_cli(*args, f"results_dir={tmp_path / name}").returncode == 0
    a, b = table(tmp_path / "a"), table(tmp_path / "b")
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))
