"""Bad schedule input through the CLI: one line naming the value and the fix, exit 2, no
traceback, the results directory exactly as it was (the pattern of tests/test_bad_input.py).

These errors all come from the preflight, before any framework is imported, so the CLI runs
in-process here (a subprocess per case would cost a second each for nothing)."""

from __future__ import annotations

import pytest

from harness.cli import compose_run, main, preflight
from harness.plan import horizon_warning
from tests.test_bad_input import snapshot

BASE = {"data.train_size": "512", "data.test_size": "500", "epochs": "1", "seed": "7", "progress": "false"}

CASES = {
    "warmup begins above base_lr": (
        {"scheduler": "warmup", "scheduler.warmup_begin_lr": "0.5"},
        "scheduler=warmup: warmup_begin_lr=0.5 must be >= 0 and below the rate it warms up to (0.3, base_lr)"),
    "cycled momentum without momentum": (
        {"scheduler": "onecycle", "scheduler.cycle_momentum": "true"},
        "scheduler=onecycle cycles momentum (scheduler.cycle_momentum=true) but optimizer=sgd with momentum=0.0 has none to cycle"),
    "inverted momentum range": (
        {"scheduler": "onecycle", "scheduler.base_momentum": "0.95", "scheduler.max_momentum": "0.85"},
        "scheduler=onecycle: base_momentum=0.95 must be <= max_momentum=0.85"),
    "pct_start outside (0, 1)": ({"scheduler": "onecycle", "scheduler.pct_start": "1.5"}, "pct_start=1.5 must be in (0, 1)"),
    "T_mult below 1": ({"scheduler": "cosine_restarts", "scheduler.cycle_mult": "0.5"}, "cycle_mult=0.5 (T_mult) must be >= 1"),
    "unknown decay_shape": ({"scheduler": "wsd", "scheduler.decay_shape": "sqrt"},
                            "decay_shape='sqrt' is unknown; choose one of linear, 1-sqrt, cosine"),
    "final_lr above base_lr in a decay": ({"scheduler": "linear_decay", "scheduler.final_lr": "0.5"},
                                          "final_lr=0.5 must be in [0, base_lr=0.3]"),
    "zero length": ({"scheduler": "step", "scheduler.step_size": "0"}, "step_size=0 must be a positive length"),
    "warmup longer than the derived horizon": ({"scheduler": "warmup_linear", "epochs": "2"},
                                               "warmup_steps=3 must be > 0 and < total_steps=2"),
    "unknown warmup_shape": ({"scheduler": "cosine", "scheduler.warmup_steps": "2", "scheduler.warmup_shape": "exp"},
                             "warmup_shape='exp' is unknown; choose one of linear, cosine"),
    "cyclic bounds inverted": ({"scheduler": "cyclic", "scheduler.max_lr": "0.01"}, "max_lr=0.01 must be above base_lr=0.05"),
    "sequence boundaries": ({"scheduler": "sequence", "scheduler.boundaries": "[5,10]"}, "2 phases need 1 boundaries"),
    "key the schedule does not take": ({"scheduler": "cosine", "scheduler.gamma": "0.5"}, "cosine schedule does not take ['gamma']"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_schedule_is_one_line_exit_2_and_results_unchanged(case, tmp_path, capsys):
    overrides, expected = CASES[case]
    results = tmp_path / "results"
    results.mkdir()
    (results / "keep.txt").write_text("untouched\n")
    before = snapshot(results)
    settings = {**BASE, "results_dir": str(results), **overrides}

    with pytest.raises(SystemExit) as exit_info:
        main([f"{key}={value}" for key, value in settings.items()])

    out = capsys.readouterr()
    assert exit_info.value.code == 2, out.out + out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), out.err
    assert expected in lines[0]
    assert "Traceback" not in out.out + out.err
    assert snapshot(results) == before


def test_a_sweep_shares_a_horizon_and_a_horizon_can_follow_epochs():
    configs = preflight(["-m", "scheduler=constant,cosine,warmup", "scheduler.total_steps=12", "epochs=12"])
    assert [c.scheduler.name for c in configs] == ["constant", "cosine", "warmup"]
    follows = preflight(["scheduler=cosine", "scheduler.total_steps=${epochs}", "epochs=7"])[0]
    assert follows.scheduler.total_steps == 7


def test_a_horizon_far_longer_than_the_run_warns():
    far = compose_run(["scheduler=cosine", "scheduler.total_steps=7050", "epochs=30"])
    assert "total_steps=7050 is 235.0x the run's 30 epochs (unit=epoch)" in horizon_warning(far)
    assert horizon_warning(compose_run(["scheduler=cosine"])) is None  # 20 of 30 epochs: shorter is fine
    assert horizon_warning(compose_run(["scheduler=onecycle"])) is None  # derived: exactly the run
