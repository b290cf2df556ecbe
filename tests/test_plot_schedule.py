"""``python -m harness plot-schedule``: a PNG from the configs a training run would use,
without importing any framework."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cli import preflight
from harness.commands.plot_schedule import curves, labels, split_args
from harness.errors import HarnessError
from tests.conftest import main_in_fresh_python


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
    assert labels(configs) == ["cosine (epochs=10)", "cosine (epochs=20)", "wsd (epochs=10)", "wsd (epochs=20)"]
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
