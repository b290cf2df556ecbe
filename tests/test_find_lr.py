"""`python -m harness find-lr` on a slice of the real data, per installed framework.

Setting: LeNet, plain SGD, batch 64, 2,048 training images, 60 updates from 1e-4 to 1,000.
Why this range: this LeNet does not blow up when the rate gets too large, it collapses to
chance (dead ReLUs, loss back at ln 10 = 2.30, near lr 0.3), which is not 4x any loss it reached
in 60 updates; fastai's 4x stop fires only once the rate is large enough to throw the logits
out (here near lr 40). On this slice the smoothed loss only dips to 2.29 first, less than the
0.5 % below chance the collapse rule asks for, so the rules read up to the stop (the collapse
itself is tested on synthetic curves in tests/test_lr_finder.py and measured on the full
training set in docs/finding_the_rate.md). What is sensible: the chapter trains this network at
0.3 (batch 256), 0.5 left 2 of 3 seeds dead in two frameworks and 2.0 never learns, so a
suggested base rate belongs in [0.005, 1]: below the edge of stability, and not so small that 30
epochs are wasted.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import INSTALLED_FRAMEWORKS
from tests.test_bad_input import snapshot
from tests.test_lr_finder import collapsing_loss

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

SLICE = ["data.train_size=2048", "data.test_size=500", "batch_size=64", "threads=1", "progress=false"]
RANGE = ["find_lr.start_lr=1e-4", "find_lr.end_lr=1000", "find_lr.num_updates=60"]


def check_sensible(rec, stopped, rows):
    assert stopped and rows[-1]["stopped"] and not any(r["stopped"] for r in rows[:-1])
    assert len(rows) < 60
    for rule in ("steep", "minimum", "valley", "slide"):
        assert 0.005 <= rec.suggestions[rule].lr <= 1.0, (rule, rec.suggestions[rule])
    assert rec.suggestions["first_rise"].lr > max(rec.suggestions[r].lr for r in ("steep", "minimum", "valley", "slide"))
    assert rec.window == (6, len(rows) - 5)  # fastai's [num_it//10:-5]
    assert rec.rule == "minimum/3" and rec.lr == pytest.approx(rec.suggestions["minimum"].lr * 10 / 3)
    assert 0.005 <= rec.lr <= 1.0


@pytest.mark.skipif("torch" not in INSTALLED_FRAMEWORKS, reason="torch not installed")
def test_cli_writes_its_table_and_figure_under_find_lr_and_nothing_else(tmp_path, capsys):
    from harness.cli import main
    from harness.commands.find_lr import FIGURE, TABLE

    with pytest.raises(SystemExit) as exit_:
        main(["find-lr", "framework=torch", *SLICE, *RANGE, f"results_dir={tmp_path}"])
    assert exit_.value.code == 0
    out = capsys.readouterr()
    line = out.out.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("harness: find-lr: torch lenet sgd batch 64, stopped at lr")
    assert "(smoothed loss above 4x its best)" in line[0]
    assert "suggests lr" in line[0] and "(minimum/3)" in line[0] and ", slide " in line[0]
    assert ", minimum/10 " in line[0] and ", first rise " in line[0]
    note = out.err.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("harness: note: the smoothed loss was lowest, ")
    assert note[0].endswith("then rose until the test stopped; minimum/3 = " + line[0].split("suggests lr ")[1].split(" ")[0])
    folders = list((tmp_path / "_find_lr").iterdir())
    assert len(folders) == 1 and sorted(p.name for p in folders[0].iterdir()) == sorted([TABLE, FIGURE])
    # Nothing a run or a reader of results_dir would pick up: no run folder, checkpoint or lock.
    assert [p.name for p in tmp_path.iterdir()] == ["_find_lr"]
    table = pd.read_parquet(folders[0] / TABLE)
    assert (table["update"] == range(len(table))).all() and table["lr"].is_monotonic_increasing
    assert table["recommended_lr"].nunique() == 1 and table["stopped"].iloc[-1]
    assert (table["num_classes"] == 10).all() and (table["stop"] == "smoothed loss above 4x its best").all()
    assert table["collapse_lr"].isna().all() and table["suggested_slide"].notna().all()
    assert (folders[0] / FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("framework", INSTALLED_FRAMEWORKS)
def test_stop_rule_fires_and_suggestions_are_sensible(framework, tmp_path):
    from harness.cli import compose_run
    from harness.commands.find_lr import run_range_test

    cfg = compose_run([f"framework={framework}", *SLICE, f"results_dir={tmp_path}"])
    test = run_range_test(cfg, start_lr=1e-4, end_lr=1000.0, num_updates=60)
    check_sensible(test.recommendation, test.stopped, test.rows)
    # The first update is the run's first update: its loss is the initial weights' loss on the run's first batch.
    assert 2.0 < test.rows[0]["loss"] < 2.7


def synthetic_rows(lrs, raw, **extra):
    """Rows as find-lr writes them, for a synthetic curve: no framework needed."""
    from harness import lr_finder

    smoother = lr_finder.Smoother()
    rows = []
    for update, (lr, loss) in enumerate(zip(lrs, raw)):
        smoothed = smoother.add(float(loss))
        rows.append({"update": update, "epoch": 0, "lr": float(lr), "loss": float(loss),
                     "smoothed_loss": smoothed, "stopped": smoother.stopped, "framework": "torch",
                     "model": "lenet", "optimizer": "sgd", "batch_size": 256, "num_updates": len(lrs), **extra})
        if smoother.stopped:
            break
    return rows


def test_a_range_test_written_before_is_read_and_judged_anew(tmp_path):
    """range_test.pq, as find-lr wrote it before: no num_classes, stop or slide column, the old
    rules' choice in recommended_lr. Read back, it is judged by today's rules."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.commands.find_lr import FIGURE, OLD_TABLE, TABLE, read, write

    lrs = np.geomspace(1e-4, 10.0, 300)  # the old grid, end_lr included
    rows = synthetic_rows(lrs, collapsing_loss(lrs), recommended_lr=0.0123, recommended_rule="valley")
    folder = tmp_path / "_find_lr" / "torch-sgd-b256-s0-0123456789abcdef"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / OLD_TABLE)
    test = read(folder)
    c = test.recommendation.collapse
    assert c is not None and c.lr == pytest.approx(float(lrs[lrs > 0.5][0]))
    assert test.recommendation.rule == "collapse/3" and test.recommendation.lr == pytest.approx(c.lr / 3)
    assert test.rows[0]["recommended_lr"] == pytest.approx(c.lr / 3) and not test.stopped and test.stop is None
    # Both names present: the new one wins.
    newer = synthetic_rows(lrs, 2.3 - 0.001 * np.arange(300), num_classes=10)
    pq.write_table(pa.Table.from_pylist(newer), folder / TABLE)
    assert read(folder).recommendation.collapse is None
    # Writing the test again under the new name retires the old file.
    write(test)
    assert sorted(p.name for p in folder.iterdir()) == sorted([FIGURE, TABLE])
    assert read(folder).recommendation.rule == "collapse/3"


def test_reading_a_folder_without_a_range_test_names_both_files(tmp_path):
    from harness.commands.find_lr import read
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=r"no range test in .* \(looked for range_test.parquet and range_test.pq\)"):
        read(tmp_path)


def test_readers_of_a_results_directory_see_runs_only(tmp_path):
    """pandas/pyarrow skip the ``_find_lr`` folder; DuckDB's and polars' globs do not, so the
    README reads runs with ``**/epochs.parquet``, which never matches a range test."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.commands.find_lr import TABLE

    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    (tmp_path / "run-a").mkdir()
    pq.write_table(pa.table({"run_id": ["a"] * 3, "epoch": [0, 1, 2]}), tmp_path / "run-a" / "epochs.parquet")
    folder = tmp_path / "_find_lr" / "torch-sgd"
    folder.mkdir(parents=True)
    lrs = np.geomspace(1e-4, 10.0, 50)
    pq.write_table(pa.Table.from_pylist(synthetic_rows(lrs, collapsing_loss(lrs))), folder / TABLE)
    assert len(pd.read_parquet(tmp_path)) == 3
    runs = f"{tmp_path}/**/epochs.parquet"
    assert duckdb.sql(f"select count(*) from read_parquet('{runs}', union_by_name = true)").fetchall()[0][0] == 3
    assert polars.read_parquet(runs).height == 3
    everything = f"{tmp_path}/**/*.parquet"  # what the range test's .parquet name now costs
    assert duckdb.sql(f"select count(*) from read_parquet('{everything}', union_by_name = true)").fetchall()[0][0] == 53


BAD = {
    "not a number": (["find_lr.num_updates=ten"], "find_lr.num_updates='ten' is not a whole number"),
    "not a rate": (["find_lr.end_lr=big"], "find_lr.end_lr='big' is not a number"),
    "nan start": (["find_lr.start_lr=nan"], "find-lr: start_lr=nan must be a positive finite learning rate"),
    "infinite end": (["find_lr.end_lr=inf"], "find-lr: end_lr=inf must be a positive finite learning rate"),
    "multirun": (["-m", "seed=0,1"], "find-lr runs one range test; drop -m"),
    "unknown key close to none": (["find_lr.zzz=1"], "unknown key 'find_lr.zzz'; find-lr takes find_lr.start_lr, "
                                  "find_lr.end_lr, find_lr.epochs, find_lr.num_updates"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    from harness.cli import main

    args, expected = BAD[case]
    results = tmp_path / "results"
    results.mkdir()
    before = snapshot(results)
    with pytest.raises(SystemExit) as exit_:
        main(["find-lr", *args, "data.train_size=512", f"results_dir={results}"])
    out = capsys.readouterr()
    assert exit_.value.code == 2, out.out + out.err
    lines = out.err.strip().splitlines()
    assert lines == [f"harness: error: {expected}"] and "Traceback" not in out.out + out.err
    assert snapshot(results) == before


@pytest.mark.parametrize("framework", INSTALLED_FRAMEWORKS)
def test_a_nan_loss_ends_the_test_as_its_stop_rule(framework, tmp_path):
    """Issue 21: a rate so large that the first update makes every weight inf gives a NaN loss at
    the second update; the range test stops there, says so and writes its files: no traceback."""
    from harness.cli import compose_run
    from harness.commands.find_lr import FIGURE, TABLE, run_range_test, summary_line, write

    cfg = compose_run([f"framework={framework}", "data.train_size=512", "data.test_size=500", "batch_size=64",
                       "threads=1", "progress=false", f"results_dir={tmp_path}"])
    test = run_range_test(cfg, start_lr=1e30, end_lr=1e37, num_updates=10)
    assert test.stopped and test.stop == "loss not finite" and len(test.rows) == 2
    assert math.isfinite(test.rows[0]["loss"]) and not math.isfinite(test.rows[1]["loss"])
    assert test.recommendation.lr is None
    assert test.recommendation.reason.startswith("the loss was not finite at update 1 (lr 5.01e+30)")
    assert "after 2 of 10 updates, 1.25 epochs (loss not finite); no suggestion" in summary_line(test)
    write(test)
    table = pd.read_parquet(test.folder / TABLE)
    assert len(table) == 2 and table["stop"].tolist() == ["loss not finite"] * 2 and (test.folder / FIGURE).is_file()


def test_the_line_and_the_parquet_say_the_same_stop(tmp_path):
    """The stop reason in the printed line is the parquet's `stop`, word for word; each rule's
    rate is named as the rate it suggests (minimum/10, not the minimum). No training."""
    from harness import lr_finder
    from harness.commands.find_lr import TABLE, judge, read, summary_line, write

    lrs = lr_finder.exponential_rates()
    x = np.log10(lrs)
    raw = 0.4 + 1.9 / (1 + np.exp(3 * (x + 2.5))) + np.exp(8 * x)  # falls, then blows up past lr ~2
    rows = synthetic_rows(lrs, raw, num_classes=10)
    assert rows[-1]["stopped"]
    rows = [dict(r, stop=lr_finder.above()) for r in rows]
    folder = tmp_path / "_find_lr" / "torch-sgd-b256-s0-0123456789abcdef"
    test = judge(folder, rows)
    write(test)
    stop = pd.read_parquet(folder / TABLE)["stop"].unique().tolist()
    line = summary_line(test)
    assert stop == ["smoothed loss above 4x its best"] and f"updates ({stop[0]}); suggests lr" in line
    rec = test.recommendation
    assert f"suggests lr {rec.lr:.3g} (minimum/3)" in line
    assert f"minimum/10 {rec.suggestions['minimum'].lr:.3g}," in line
    assert f"minimum/10 {rec.suggestions['minimum'].lr * 10:.3g}," not in line  # never the minimum's own rate
    # A range test written with the old word reads back with today's phrase.
    old = [dict(r, stop="diverged") for r in rows]
    assert judge(folder, old).stop == lr_finder.above() and read(folder).stop == lr_finder.above()


@pytest.mark.parametrize("epochs, num_updates, per_epoch, expected", [
    (3.0, None, 196, 588), (3.0, None, 49, 147), (1.0, 100, 49, 100), (0.5, None, 49, 24),
])
def test_the_test_lasts_epochs_worth_of_batches(epochs, num_updates, per_epoch, expected):
    from harness.commands.find_lr import planned_updates

    assert planned_updates(epochs, num_updates, per_epoch) == expected


def test_too_few_epochs_worth_is_one_line():
    from harness.commands.find_lr import planned_updates, split_args
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=r"find_lr.epochs=0.1 is 5 updates of 49 per epoch; the test needs at "
                                           r"least 10: raise find_lr.epochs"):
        planned_updates(0.1, None, 49)
    with pytest.raises(HarnessError, match="find_lr.epochs or find_lr.num_updates, not both"):
        split_args(["find_lr.epochs=2", "find_lr.num_updates=100"])
    with pytest.raises(HarnessError, match="find_lr.epochs=-1.0 must be a positive number of epochs"):
        split_args(["find_lr.epochs=-1"])
    values, rest = split_args(["find_lr.num_updates=100", "batch_size=64"])
    assert values == {"start_lr": 1e-5, "end_lr": 10.0, "epochs": 3.0, "num_updates": 100} and rest == ["batch_size=64"]
