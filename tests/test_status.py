"""`python -m harness status`: every run's state from parquet and locks, a held lock being a
run trained right now (held here by a real second process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.commands.status import find_runs, lock_is_held
from tests.conftest import PROJECT_ROOT, main_in_fresh_python, run_cli
from tests.synthetic_results import write_run

HOLD = textwrap.dedent("""
    import fcntl, sys
    handles = [open(path, "a") for path in sys.argv[1:]]
    for handle in handles:
        fcntl.flock(handle, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
""")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four runs in four states, one set aside, and a run that holds its lock before its first parquet."""
    results = tmp_path_factory.mktemp("status")
    write_run(results, "clean", "torch", "cosine", 0, [0.80, 0.85, 0.86, 0.87, 0.8812], "complete")
    write_run(results, "clean", "torch", "cosine", 1, [0.70, 0.75], "running")  # killed, nobody holds it
    write_run(results, "clean", "tf", "cosine", 0, [0.72], "running")  # being trained: lock held below
    write_run(results, "clean", "torch", "warmup", 3, [0.5, 0.1], "diverged")
    write_run(results / "_superseded", "clean", "torch", "sqrt", 0, [0.1], "complete")  # set aside: not shown
    locks = [results / ".clean-tf-cosine-s0.lock", results / ".mxnet-sqrt-s2-0123456789abcdef.lock"]  # a real run name
    (results / ".clean-torch-cosine-s1.lock").touch()  # left by the killed run, not held
    holder = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, locks)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield results, locks
    holder.stdin.close()
    holder.wait(timeout=10)


def rows_of(output: str) -> dict[tuple[str, str, str], list[str]]:
    rows = {}
    for line in output.splitlines()[2:]:
        if not line.strip():
            break
        cells = line.split()
        rows[(cells[0], cells[2], cells[4])] = cells  # framework, scheduler, seed
    return rows


def test_status_table_tells_training_from_interrupted(study):
    results, _ = study
    proc, rc, frameworks = main_in_fresh_python(["status", str(results)])
    assert rc == 0 and frameworks == []
    rows = rows_of(proc.stdout)
    assert set(rows) == {("torch", "cosine", "0"), ("torch", "cosine", "1"), ("tf", "cosine", "0"),
                         ("torch", "warmup", "3"), ("mxnet", "sqrt", "2")}
    assert rows[("torch", "cosine", "0")][5:8] == ["complete", "5/5", "0.8812"]
    assert rows[("torch", "cosine", "1")][5:8] == ["interrupted", "2/5", "0.7500"]
    assert rows[("tf", "cosine", "0")][5:8] == ["training", "1/5", "0.7200"]
    assert rows[("torch", "warmup", "3")][5:8] == ["diverged", "2/5", "0.1000"]
    assert rows[("mxnet", "sqrt", "2")][5:8] == ["training", "0/?", "-"]  # first epoch not written yet
    assert "5 runs: 1 complete, 1 diverged, 1 interrupted, 2 training; 10 of 20 epochs done" in proc.stdout


def test_without_proc_locks_a_shared_probe_sees_the_same(study):
    results, locks = study
    assert lock_is_held(locks[0], None) and not lock_is_held(results / ".clean-torch-cosine-s1.lock", None)
    states = {run["run_dir"].name: run["state"] for run in find_runs(results)}
    assert states["clean-tf-cosine-s0"] == "training" and states["clean-torch-cosine-s1"] == "interrupted"


def test_status_of_the_committed_study_lists_every_run():
    study = PROJECT_ROOT / "results" / "d2l_study"
    runs = len(list(study.glob("*/epochs.parquet")))
    proc = run_cli("status", str(study))
    assert proc.returncode == 0, proc.stderr
    assert len(rows_of(proc.stdout)) <= runs  # (framework, scheduler, seed) repeats across protocols
    assert f"{runs} runs: {runs} complete;" in proc.stdout


def test_a_missing_results_directory_is_one_line(tmp_path):
    proc = run_cli("status", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "harness: error:" in proc.stderr


def test_an_unreadable_run_shows_who_it_is_and_why_and_exits_1(tmp_path):
    """A corrupt parquet: its identity from _config.yaml (all columns) or, without one, from its
    folder's name (framework, scheduler, seed); the reason under the table; exit status 1."""
    write_run(tmp_path, "clean", "torch", "cosine", 0, [0.80, 0.85], "complete")
    with_config = tmp_path / "tf-warmup-s3-0123456789abcdef"
    with_config.mkdir()
    (with_config / "epochs.parquet").write_bytes(b"not a parquet file")
    (with_config / "_config.yaml").write_text("framework:\n  name: tf\nprotocol: d2l\nscheduler:\n  name: warmup\n"
                                              "optimizer:\n  name: adam\nseed: 3\nepochs: 30\n")
    bare = tmp_path / "mxnet-sqrt-s2-fedcba9876543210"
    bare.mkdir()
    (bare / "epochs.parquet").write_bytes(b"PAR1 truncated")
    proc, rc, _ = main_in_fresh_python(["status", str(tmp_path)])
    assert rc == 1, proc.stdout + proc.stderr
    rows = rows_of(proc.stdout)
    assert rows[("tf", "warmup", "3")][:8] == ["tf", "d2l", "warmup", "adam", "3", "unreadable", "0/30", "-"]
    assert rows[("mxnet", "sqrt", "2")][:8] == ["mxnet", "-", "sqrt", "-", "2", "unreadable", "0/?", "-"]
    assert "3 runs: 1 complete, 2 unreadable; 2 of 35 epochs done" in proc.stdout
    reasons = [line for line in proc.stdout.splitlines() if line.startswith("unreadable: ")]
    assert [line.split(": ")[1] for line in reasons] == ["mxnet-sqrt-s2-fedcba9876543210/epochs.parquet",
                                                         "tf-warmup-s3-0123456789abcdef/epochs.parquet"]
    assert all("magic bytes" in line and f"moves it to {tmp_path}/_corrupt/ and trains the run again" in line
               for line in reasons), reasons


def test_exit_codes_are_in_the_help():
    proc = run_cli("status", "--help")
    assert proc.returncode == 0
    help_text = " ".join(proc.stdout.split())
    assert "exit status: 0 every run's results could be read (or there are none); 1 at least one run's " \
           "epochs.parquet is unreadable" in help_text and "2 RESULTS_DIR does not exist" in help_text


def test_finished_status_reads_the_last_row_and_calls_no_results_unfinished(tmp_path):
    from harness.results import finished_status

    for status in ("complete", "diverged", "running"):
        write_run(tmp_path, "clean", "torch", status, 0, [0.5, 0.8], status)
    assert finished_status(tmp_path / "clean-torch-complete-s0") == "complete"
    assert finished_status(tmp_path / "clean-torch-diverged-s0") == "diverged"
    assert finished_status(tmp_path / "clean-torch-running-s0") is None  # interrupted: it resumes
    assert finished_status(tmp_path / "never-started") is None
    (tmp_path / "clean-torch-complete-s0" / "epochs.parquet").write_bytes(b"not parquet")
    assert finished_status(tmp_path / "clean-torch-complete-s0") is None  # unreadable: set aside and retrained
