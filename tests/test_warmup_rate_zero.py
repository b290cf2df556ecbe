"""Epochs at rate 0 (issue 24, item 3): with unit=epoch a warmup from warmup_begin_lr=0 trains its
whole first epoch at rate 0. A run with some such epochs gets a warning naming them and the fixes
(the committed study's `warmup` runs keep their curve); a run whose every update is at 0 is
refused like any bad input. Also the small command-line items of the issue: `plan` after the
overrides, and a singular "training image"."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from harness.cli import preflight
from harness.errors import HarnessError
from harness.plan_checks import check_zero_rate, zero_rate_epochs, zero_rate_warning
from tests.conftest import PROJECT_ROOT, run_cli
from tests.test_bad_input import snapshot

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

FIXES = "scheduler.unit=step makes the warmup per update, or scheduler.warmup_begin_lr=0.03 (any value > 0) starts it above 0"
WHY = "unit=epoch: every update of an epoch takes the schedule's value at that epoch; the warmup starts at warmup_begin_lr=0"
SMALL = ["data.train_size=512", "data.test_size=500", "progress=false"]


def test_the_default_warmup_names_epoch_0_and_both_fixes():
    cfg = preflight(["scheduler=warmup"])[0]
    assert zero_rate_epochs(cfg) == [0]
    assert zero_rate_warning(cfg) == f"scheduler=warmup: epoch 0 of 30 would train at rate 0 ({WHY}): {FIXES}"


@pytest.mark.parametrize("overrides", [
    ["scheduler=warmup", "scheduler.unit=step"],  # the ramp moves every update: only update 0 is at 0
    ["scheduler=warmup", "scheduler.warmup_begin_lr=0.01"],
    ["scheduler=warmup", "scheduler.warmup_shape=cosine", "scheduler.warmup_begin_lr=0.001"],
    ["scheduler=cosine"],
    ["scheduler=noam"],  # (t + 1): its first update is already above 0
    ["scheduler=onecycle", "scheduler.warmup_steps=100"],  # unit=step, a wrapped warmup
    ["scheduler=warmup", "protocol=d2l", "framework=mxnet"],  # the MXNet tab counts updates from 1
    ["scheduler=wsd"],  # its default: no warmup, so no epoch at 0 (issue 33)
])
def test_no_warning_without_a_whole_epoch_at_0(overrides):
    cfg = preflight(overrides)[0]
    assert zero_rate_epochs(cfg) == [] and zero_rate_warning(cfg) is None


@pytest.mark.parametrize("overrides, epochs", [
    (["scheduler=wsd", "scheduler.warmup_steps=2"], [0]),  # a per-epoch warmup: its default has none (issue 33)
    (["scheduler=constant_warmup"], [0]),
    (["scheduler=warmup_linear"], [0]),
    (["scheduler=cosine", "scheduler.warmup_steps=5"], [0]),  # the generic warmup around any schedule
    (["scheduler=sequence", "scheduler.phases=[{kind: constant_warmup, warmup_steps: 3},{kind: cosine, final_lr: 0.01}]"], [0]),
    (["scheduler=cosine", "scheduler.final_lr=0", "scheduler.total_steps=10"], list(range(10, 30))),  # at 0 after its horizon
    (["scheduler=cosine_restarts", "scheduler.cycle_warmup_steps=2"], [0, 10]),  # each restart rises from final_lr=0
    (["scheduler=warmup", "scheduler.unit=step", "data.train_size=256"], [0]),  # one update per epoch
    (["scheduler=warmup", "protocol=d2l", "framework=tf"], [0]),  # the chapter's tabs as they ran
    (["scheduler=warmup", "protocol=d2l", "framework=torch"], [1]),  # epoch 0 at base_lr, then scheduler(0)
])
def test_every_schedule_and_warmup_shape_is_checked_from_the_rates_the_run_uses(overrides, epochs):
    cfg = preflight(overrides)[0]
    assert zero_rate_epochs(cfg) == epochs
    assert zero_rate_warning(cfg).startswith(f"scheduler={cfg.scheduler.name}: epoch")


def test_a_decay_at_0_is_told_apart_from_a_warmup():
    cfg = preflight(["scheduler=cosine", "scheduler.final_lr=0", "scheduler.total_steps=10"])[0]
    assert zero_rate_warning(cfg) == (
        "scheduler=cosine: epochs 10-29 of 30 would train at rate 0 (unit=epoch: every update of an epoch takes the "
        "schedule's value at that epoch; the schedule is at final_lr=0 there): scheduler.unit=step steps the schedule "
        "per update, or scheduler.final_lr above 0, or scheduler.total_steps=null (a horizon as long as the run)")
    d2l = preflight(["scheduler=warmup", "protocol=d2l", "framework=tf"])[0]
    assert "(protocol=d2l: as the d2l tf tab runs it; the warmup starts at warmup_begin_lr=0): protocol=clean " \
           "scheduler.unit=step makes the warmup per update" in zero_rate_warning(d2l)


def test_a_run_at_0_throughout_is_refused_and_one_epoch_of_it_is_not():
    with pytest.raises(HarnessError) as refused:
        preflight(["scheduler=warmup", "epochs=1"])
    assert str(refused.value) == (f"scheduler=warmup trains nothing: every update of its 1 epoch would have rate 0 "
                                  f"({WHY}): {FIXES}")
    check_zero_rate(preflight(["scheduler=warmup", "epochs=2"])[0])  # epoch 1 at 0.06: a warning, not an error
    preflight(["scheduler=warmup", "epochs=1", "scheduler.unit=step"])  # 235 updates, the first at 0


@pytest.mark.parametrize("args", [
    ["scheduler=warmup", "epochs=1"],
    ["-m", "scheduler=cosine,warmup", "epochs=1"],  # refused before the sweep's first (fine) run
    ["plot-schedule", "scheduler=warmup", "epochs=1"],
])
def test_the_refusal_is_one_line_exit_2_and_nothing_written(args, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "note.txt").write_text("an earlier file\n")
    before = snapshot(results)
    # from tmp_path, so that a plot written to the current directory would be seen; this checkout's harness
    out = run_cli(*args, *SMALL, f"results_dir={results}", cwd=tmp_path, env={"PYTHONPATH": str(PROJECT_ROOT)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.splitlines() == [f"harness: error: scheduler=warmup trains nothing: every update of its 1 epoch "
                                       f"would have rate 0 ({WHY}): {FIXES}"]
    assert snapshot(results) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no plot, no folder beside it either


@pytest.mark.slow
def test_a_sweep_warns_once_per_run_and_trains_the_curve_it_always_did(tmp_path):
    """Two real torch runs of the d2l warmup on 512 images: one warning each, and epoch 0's
    updates are recorded at rate 0, as the committed study's warmup runs were (nothing changed)."""
    out = run_cli("-m", "scheduler=warmup", "seed=0,1", "epochs=2", "batch_size=128", *SMALL, f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    warning = f"harness: warning: scheduler=warmup: epoch 0 of 2 would train at rate 0 ({WHY}): {FIXES}"
    assert [line for line in out.stderr.splitlines() if "rate 0" in line] == [warning, warning]  # (and the horizon's)
    for table in sorted(tmp_path.glob("torch-warmup-s*/epochs.parquet")):
        step_lrs = pq.read_table(table, columns=["step_lrs"]).column("step_lrs").to_pylist()
        assert step_lrs[0] == [0.0] * 4 and step_lrs[1] == pytest.approx([0.06] * 4)
    out = run_cli("-m", "scheduler=warmup", "seed=0,1", "epochs=2", "batch_size=128", *SMALL, f"results_dir={tmp_path}")
    assert out.returncode == 0 and "warning" not in out.stderr  # finished runs are skipped, silently as before
    assert "sweep done: 2 runs: 2 skipped" in out.stdout


def test_plot_schedule_warns_for_each_schedule_at_0(tmp_path, capsys):
    from harness.commands import plot_schedule

    assert plot_schedule.main(["scheduler=cosine,warmup,wsd", "scheduler.warmup_steps=2",
                               f"plot.out={tmp_path / 'p.png'}"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("harness: warning:")]
    assert [w.split(":")[2].strip() for w in warnings] == ["scheduler=cosine", "scheduler=warmup", "scheduler=wsd"]


# --- the small command-line items ---------------------------------------------------------------------


def test_plan_after_the_overrides_is_plan_first(tmp_path):
    first = run_cli("plan", "-m", "scheduler=cosine,constant", "epochs=2", f"results_dir={tmp_path}")
    after = run_cli("-m", "scheduler=cosine,constant", "epochs=2", f"results_dir={tmp_path}", "plan")
    assert first.returncode == after.returncode == 0, after.stderr
    assert after.stdout == first.stdout and "harness: plan: 2 jobs, 2 runs: 2 new; nothing was trained" in after.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_takes_no_overrides_says_to_come_first(tmp_path):
    out = run_cli(f"results_dir={tmp_path}", "status")
    assert out.returncode == 2 and out.stderr.splitlines() == [
        "harness: error: put status first: python -m harness status ... (status takes no KEY=VALUE settings before it)"]


def test_one_training_image_is_singular():
    with pytest.raises(HarnessError, match=r"data.val_size=59999 leaves 1 training image, fewer than one batch \(batch_size=2\)"):
        preflight(["data.val_size=59999", "batch_size=2"])


@pytest.mark.parametrize("preset", ["d2l_clean", "d2l_tabs"])
def test_the_committed_study_is_unchanged_and_its_epochs_at_0_are_the_ones_named(preset):
    """Every run of the committed study keeps its folder (its run_id), so `make reproduce` skips it;
    the epochs its parquet recorded at rate 0 (the d2l warmup's: epoch 0, the torch tab's epoch 1)
    are exactly the ones the warning names, and no other schedule of the study has any."""
    from harness.identity import folder_of

    configs = preflight(["-m", f"experiments={preset}", f"results_dir={PROJECT_ROOT / 'results' / 'd2l_study'}"])
    named = {}
    for cfg in configs:
        folder = folder_of(cfg)
        step_lrs = pq.read_table(folder / "epochs.parquet", columns=["step_lrs"]).column("step_lrs").to_pylist()
        recorded = [epoch for epoch, rates in enumerate(step_lrs) if not any(rate > 0 for rate in rates)]
        assert zero_rate_epochs(cfg) == recorded, folder.name
        if recorded:
            named[cfg.framework.name, cfg.scheduler.name, cfg.seed] = recorded
    if preset == "d2l_clean":
        assert named == {(fw, "warmup", seed): [0] for fw in ("torch", "tf", "mxnet") for seed in (0, 1, 2)}
    else:
        assert named == {("torch", "warmup", 0): [1], ("tf", "warmup", 0): [0]}
