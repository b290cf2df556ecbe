"""``python -m harness plot-schedule``: a PNG from the configs a training run would use,
without importing any framework."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cli import preflight
from harness.commands.plot_schedule import curves, labels, split_args
from harness.errors import HarnessError
from tests.conftest import main_in_fresh_python

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow


def test_overlay_writes_a_png_and_imports_no_framework(tmp_path):
    out = tmp_path / "zoo.png"
    proc, rc, frameworks = main_in_fresh_python(
        ["plot-schedule", "scheduler=onecycle,cyclic", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9",
         "plot.log=true", f"plot.out={out}"], timeout=120)
    assert rc == 0, proc.stderr
    assert frameworks == []
    assert proc.stdout.strip().splitlines()[0] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_are_the_runs_plan_with_derived_lengths():
    cfg = preflight(["scheduler=onecycle", "epochs=4", "data.train_size=2048"])[0]
    lrs, momenta, per_epoch = curves(cfg)
    assert per_epoch == 8 and lrs.shape == (32,) and momenta is None
    assert np.argmax(lrs) == round(0.3 * 32 - 1) and lrs[-1] == pytest.approx(0.5 / 25 / 1e4)
    d2l = preflight(["scheduler=cosine", "protocol=d2l", "framework=mxnet", "epochs=2", "data.train_size=2048"])[0]
    assert curves(d2l)[0][1] < curves(d2l)[0][0]  # MXNet's tab steps per update


def test_labels_tell_twins_apart_and_plot_keys_are_checked():
    configs = preflight(["-m", "scheduler=cosine,wsd", "epochs=10,20"])
    # cosine's horizon is its own (T=20); wsd's follows the run, so the preflight's run says so
    assert labels(configs) == ["cosine (epochs=10)", "cosine (epochs=20)", "wsd (scheduler.total_steps=10, epochs=10)",
                               "wsd (scheduler.total_steps=20, epochs=20)"]
    assert split_args(["plot.log=true", "epochs=3"]) == ({"out": None, "log": "true", "x": "epoch", "grid": "false"}, ["epochs=3"])
    with pytest.raises(HarnessError, match="plot.colour is not a plot-schedule key"):
        split_args(["plot.colour=red"])


def test_the_faster_import_and_the_single_draw_give_the_same_png(tmp_path):
    import matplotlib.artist

    from harness.commands.plot_schedule import _matplotlib, _save

    Figure, FigureCanvasAgg = _matplotlib()
    restored = matplotlib.artist.Artist.__dict__["_update_set_signature_and_docstring"].__func__
    assert (matplotlib.artist.kwdoc.__name__, restored.__name__) == ("kwdoc", "_update_set_signature_and_docstring")

    def figure():
        fig = Figure(figsize=(6, 3))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.plot([0, 1, 2], [0.3, 0.1, 0.01], label="cosine")
        ax.set_ylabel("learning rate (each update)")
        ax.legend()
        return fig

    twice = figure()
    twice.tight_layout()
    twice.savefig(tmp_path / "twice.png", dpi=110)  # tight_layout's engine left on: savefig draws twice
    _save(figure(), tmp_path / "once.png", dpi=110)
    assert (tmp_path / "once.png").read_bytes() == (tmp_path / "twice.png").read_bytes()


@pytest.mark.parametrize("args", [
    ["scheduler=onecycle,cyclic", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9", "plot.log=true"],
    ["scheduler=onecycle,cyclic", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9", "plot.grid=true"],
])
def test_matplotlib_imported_without_its_help_text_draws_the_same_png(args, tmp_path):
    """In a fresh process plot-schedule imports matplotlib without the set() help text; one that
    imported matplotlib as it is first must write the very same bytes."""
    pngs = []
    for first in ("", "import matplotlib.figure, matplotlib.backends.backend_agg\n"):
        out = tmp_path / f"{len(pngs)}.png"
        proc, rc, _ = main_in_fresh_python(["plot-schedule", *args, f"plot.out={out}"], before=first, timeout=120)
        assert rc == 0, proc.stderr
        pngs.append(out.read_bytes())
    assert pngs[0] == pngs[1]


def test_garbage_collection_is_back_on_when_main_returns(tmp_path):
    import gc

    from harness.commands import plot_schedule

    assert plot_schedule.main(["scheduler=constant", "epochs=2", f"plot.out={tmp_path / 'c.png'}"]) == 0
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        plot_schedule.main(["epochs=0"])  # one line, exit 2
    assert gc.isenabled()


def test_one_blas_thread_unless_the_user_chose(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from harness.commands import plot_schedule
    from tests.conftest import PROJECT_ROOT

    code = ("import os, sys\n"
            "from harness.commands.plot_schedule import _one_blas_thread\n"
            "_one_blas_thread()\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules)")
    for chosen, expected in ((None, "1 False"), ("2", "2 False")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        env.update({"OPENBLAS_NUM_THREADS": chosen} if chosen else {})
        run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
        assert run.stdout.strip() == expected  # set before numpy is imported, and a choice is kept
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    plot_schedule._one_blas_thread()  # numpy is loaded in this process: nothing to change
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_default_path_is_under_results_dir_plots_and_a_warmup_does_not_overwrite_the_plain_cosine(tmp_path):
    """Default: <results_dir>/_plots/<variant label>.png, nothing in the current directory; the
    cosine with warmup_steps=5 is a file (and a title) of its own."""
    from tests.conftest import PROJECT_ROOT, run_cli

    results = tmp_path / "res"
    outs = {}
    for extra in ([], ["scheduler.warmup_steps=5"]):
        proc = run_cli("plot-schedule", "scheduler=cosine", *extra, f"results_dir={results}", cwd=tmp_path,
                       env={"PYTHONPATH": str(PROJECT_ROOT)})  # this checkout's harness, run from tmp_path
        assert proc.returncode == 0, proc.stderr
        outs[tuple(extra)] = proc.stdout.strip().splitlines()[-1]
    assert outs == {(): f"{results}/_plots/cosine_lr0.3_final0.01_T20.png",
                    ("scheduler.warmup_steps=5",): f"{results}/_plots/cosine_lr0.3_final0.01_T20_warmup5.png"}
    assert sorted(p.name for p in (results / "_plots").iterdir()) == ["cosine_lr0.3_final0.01_T20.png",
                                                                      "cosine_lr0.3_final0.01_T20_warmup5.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # nothing in the working directory
    relative = run_cli("plot-schedule", "scheduler=cosine", "results_dir=here", cwd=tmp_path, env={"PYTHONPATH": str(PROJECT_ROOT)})
    assert relative.stdout.strip() == "here/_plots/cosine_lr0.3_final0.01_T20.png" and (tmp_path / relative.stdout.strip()).is_file()


def test_the_title_is_the_variant_label_and_plot_out_still_wins(tmp_path):
    from harness.commands import plot_schedule

    options = split_args([])[0]
    cfg = preflight(["scheduler=cosine", "scheduler.warmup_steps=5", f"results_dir={tmp_path}"])[0]
    fig = plot_schedule.figure([cfg], options)
    assert fig.axes[0].get_title() == "cosine(lr=0.3, final=0.01, T=20, warmup=5): 30 epochs of 235 updates"
    out = tmp_path / "mine.png"
    assert plot_schedule.main(["scheduler=cosine", f"results_dir={tmp_path}", f"plot.out={out}"]) == 0
    assert out.is_file() and not (tmp_path / "_plots").exists()


@pytest.mark.parametrize("overrides, stem", [
    (["scheduler=cosine"], "cosine_lr0.3_final0.01_T20"),
    (["scheduler=multifactor"], "multifactor_lr0.5_factor0.5_at15-30"),
    (["scheduler=onecycle", "scheduler.pct_start=0.25", "epochs=3"],  # a label of 170 characters: its start and a hash
     "onecycle_lr0.5_T705_pct_start0.25_div_factor25_final_div_factor10000_annealcos_three_phaseFalse_cycle_m-{}_epochs3"),
    (["scheduler=cosine", "epochs=10", "data.train_size=1024", "batch_size=128"], "cosine_lr0.3_final0.01_T20_epochs10_batch128_train1024"),
    (["scheduler=warmup", "protocol=d2l", "framework=tf"], "warmup_lr0.3_final0.01_T20_warmup5_warmup_from0_d2l-tf"),
    (["scheduler=constant", "scheduler.unit=step", "plot.log=true", "plot.x=update"], "constant_lr0.3_per_step_log_by-update"),
    (["scheduler=cosine,constant", "plot.grid=true"], "cosine_lr0.3_final0.01_T20+constant_lr0.3_grid"),
    (["scheduler=cosine,onecycle,wsd"], "cosine+onecycle+wsd-{}"),
])
def test_file_names_come_from_the_variant_labels(overrides, stem):
    import re

    from harness.commands.plot_schedule import MAX_STEM, file_stem

    options, rest = split_args(overrides)
    configs = preflight(["-m", *rest] if any("," in a for a in rest) else rest)
    got = file_stem(configs, options)
    assert len(got) <= MAX_STEM and re.fullmatch(r"[A-Za-z0-9._+-]+", got)
    if "{}" in stem:
        digest = re.search(r"-([0-9a-f]{8})(_|$)", got).group(1)
        assert got == stem.format(digest)
    else:
        assert got == stem


def test_two_overlays_that_differ_only_past_the_cut_get_two_files():
    from harness.commands.plot_schedule import file_stem

    options = split_args([])[0]
    a = file_stem(preflight(["-m", "scheduler=cosine,onecycle,wsd"]), options)
    b = file_stem(preflight(["-m", "scheduler=cosine,onecycle,wsd", "scheduler.base_lr=0.2"]), options)
    assert a.split("-")[0] == b.split("-")[0] == "cosine+onecycle+wsd" and a != b


@pytest.mark.parametrize("overrides, per_epoch", [
    (["data.train_size=1024"], 4),  # ceil(1024 / 256)
    (["data.train_size=1000", "batch_size=100"], 10),
    (["data.val_size=59000"], 4),  # 1,000 training images left
    ([], 235),  # all 60,000
])
def test_the_plot_has_the_runs_updates_per_epoch(overrides, per_epoch, tmp_path):
    """The line drawn has epochs x updates-per-epoch points, following data.train_size and a
    validation split; a per-update horizon left unset follows them too (onecycle ends its cycle
    at the last update)."""
    from harness.commands import plot_schedule

    cfg = preflight(["scheduler=onecycle", "epochs=3", *overrides])[0]
    fig = plot_schedule.figure([cfg], split_args(["plot.x=update"])[0])
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) == 3 * per_epoch and line.get_xdata()[-1] == 3 * per_epoch - 1
    title = " ".join(fig.axes[0].get_title().split())  # the long onecycle label wraps onto a second line
    assert title.endswith(f": 3 epochs of {per_epoch} updates") and f"T={3 * per_epoch}," in title
    assert line.get_ydata()[-1] == pytest.approx(0.5 / 25 / 1e4)  # the cycle's end falls on the run's last update


def test_the_grid_shows_the_schedules_in_the_registry_order_whatever_the_sweep_order():
    from harness.commands import plot_schedule

    # The zoo sweeps its options by glob (alphabetically); the grid keeps the registry's order.
    configs = preflight(["-m", "scheduler=wsd,cosine_exponent,constant,cosine", "scheduler.total_steps=null"])
    fig = plot_schedule.figure(configs, split_args(["plot.grid=true"])[0])
    titles = [ax.get_title().split("(")[0] for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["constant", "cosine", "cosine_exponent", "wsd"]
