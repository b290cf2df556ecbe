"""Several processes writing runs into one results directory at once, while it is being read."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

EPOCHS = 3
SLICE = (f"epochs={EPOCHS}", "data.train_size=4096", "data.test_size=500", "threads=1", "progress=false")


def start(results_dir, seed):
    return subprocess.Popen(
        [sys.executable, "-m", "harness", f"seed={seed}", f"results_dir={results_dir}", *SLICE],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_four_writers_lose_no_row_and_the_directory_reads_cleanly_meanwhile(tmp_path):
    # Four runs, and a fifth process that asks for seed 0 again: one of the two must leave it alone.
    processes = [start(tmp_path, seed) for seed in (0, 1, 2, 3, 0)]
    reads = 0
    while any(p.poll() is None for p in processes):
        if list(tmp_path.glob("*/epochs.parquet")):
            # Both readers must see whole files only: every row well-formed, never a torn write.
            seen = pd.read_parquet(tmp_path)
            assert seen["status"].isin(["running", "complete"]).all()
            assert seen.groupby("run_id")["epoch"].apply(lambda e: sorted(e) == list(range(len(e)))).all()
            total = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/**/*.parquet')").fetchall()[0][0]
            assert total >= len(seen) - 4  # written between the two reads, never fewer
            reads += 1
    outputs = [p.communicate() for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert reads >= 3, "the directory was not read while the runs were writing"

    final = pd.read_parquet(tmp_path)
    assert sorted(final["seed"].unique()) == [0, 1, 2, 3]
    assert final.groupby("seed").size().tolist() == [EPOCHS] * 4
    assert (final["status"] == "complete").all()
    # Seed 0 was trained once: the later of its two processes found it taken or already finished.
    seed0 = [out for out, _ in (outputs[0], outputs[4])]
    assert sum("harness: complete:" in out for out in seed0) == 1
    skipped = [out for out in seed0 if "harness: skipped: torch cosine (sgd, lr=0.3" in out]
    assert len(skipped) == 1
    # One line for the run it left alone (owned by another process, or finished by it meanwhile).
    assert skipped[0].count("harness:") == 1 and "unfinished" not in skipped[0], skipped[0]
