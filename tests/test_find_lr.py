"""`python -m harness find-lr` on a slice of the real data, per installed framework.

Setting: LeNet, plain SGD, batch 64, 2,048 training images, 60 updates from 1e-4 to 1,000.
Why this range: this LeNet does not blow up when the rate gets too large, it collapses to
chance (dead ReLUs, loss back at ln 10 = 2.30, near lr 1), which is not 4x any loss it reached
in 60 updates; fastai's 4x stop fires only once the rate is large enough to throw the logits
out (here near lr 50). What is sensible: the chapter trains this network at 0.3 (batch 256),
0.5 left 2 of 3 seeds dead in two frameworks and 2.0 never learns, so a suggested base rate
belongs in [0.005, 1]: below the edge of stability, and not so small that 30 epochs are wasted.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import INSTALLED_FRAMEWORKS

SLICE = ["data.train_size=2048", "data.test_size=500", "batch_size=64", "threads=1", "progress=false"]
RANGE = ["find_lr.start_lr=1e-4", "find_lr.end_lr=1000", "find_lr.num_updates=60"]


def check_sensible(rec, stopped, rows):
    assert stopped and rows[-1]["stopped"] and not any(r["stopped"] for r in rows[:-1])
    assert len(rows) < 60
    for rule in ("steep", "minimum", "valley"):
        assert 0.005 <= rec.suggestions[rule].lr <= 1.0, (rule, rec.suggestions[rule])
    assert rec.suggestions["first_rise"].lr > max(rec.suggestions[r].lr for r in ("steep", "minimum", "valley"))
    assert rec.rule == "valley" and rec.lr == rec.suggestions["valley"].lr


@pytest.mark.skipif("torch" not in INSTALLED_FRAMEWORKS, reason="torch not installed")
def test_cli_writes_its_table_and_figure_under_find_lr_and_nothing_else(tmp_path, capsys):
    from harness.cli import main
    from harness.commands.find_lr import FIGURE, TABLE

    with pytest.raises(SystemExit) as exit_:
        main(["find-lr", "framework=torch", *SLICE, *RANGE, f"results_dir={tmp_path}"])
    assert exit_.value.code == 0
    line = capsys.readouterr().out.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("harness: find-lr: torch lenet sgd batch 64, stopped at lr")
    assert "suggests lr" in line[0] and "(valley)" in line[0]
    folders = list((tmp_path / "_find_lr").iterdir())
    assert len(folders) == 1 and sorted(p.name for p in folders[0].iterdir()) == sorted([TABLE, FIGURE])
    # Nothing a run or a reader of results_dir would pick up: no run folder, checkpoint or lock.
    assert [p.name for p in tmp_path.iterdir()] == ["_find_lr"]
    table = pd.read_parquet(folders[0] / TABLE)
    assert (table["update"] == range(len(table))).all() and table["lr"].is_monotonic_increasing
    assert table["recommended_lr"].nunique() == 1 and table["stopped"].iloc[-1]
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
