"""A fault sweep (issue 21): every optimizer at rates that blow up, in every framework; a sweep whose
middle run diverges at once; a run that raises; and every reader of the results on what they leave.

The rates are sized on 512 images, one epoch: 1e30 makes the weights overflow, so a loss is not
finite in the first epoch whatever the rule (Adam's step is bounded by its rate, so a merely large
rate only gives a large, finite loss); the second rate gives a finite mean loss far above the
runner's bar of 1e3 (2.9e11 for the adaptive rules and 3e10 for SGD at 1e3, on both CPUs this
project runs on), i.e. a run that blows up during the epoch rather than at its first update.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness import verdicts
from harness.results import EPOCHS_SCHEMA, failure_of, read_epochs
from tests.conftest import INSTALLED_FRAMEWORKS, main_in_fresh_python, run_cli

pytestmark = pytest.mark.slow

SMALL = ["epochs=1", "data.train_size=512", "data.test_size=256", "progress=false", "threads=1"]
BLOW_UP = {"sgd": 1e3, "adam": 10, "adamw": 10, "adagrad": 10, "rmsprop": 1, "schedule_free_adamw": 10}
NON_FINITE = 1e30


def _cases():
    for framework in INSTALLED_FRAMEWORKS:
        for optimizer, rate in BLOW_UP.items():
            if framework == "mxnet" and optimizer == "schedule_free_adamw":
                continue  # refused as bad input in MXNet (tests/test_schedule_free.py)
            yield pytest.param(framework, optimizer, NON_FINITE, id=f"{framework}-{optimizer}-nonfinite")
            yield pytest.param(framework, optimizer, rate, id=f"{framework}-{optimizer}-blowup")


def _train(tmp_path, *overrides):
    from harness.cli import preflight
    from harness.runner import run
    from harness.validate import validate

    keys = {o.split("=")[0] for o in overrides}
    small = [o for o in SMALL if o.split("=")[0] not in keys]
    (cfg,) = preflight([*overrides, *small, f"results_dir={tmp_path}"])
    return run(validate(cfg))


@pytest.mark.parametrize("framework, optimizer, rate", list(_cases()))
def test_every_optimizer_that_blows_up_ends_diverged_with_its_rows(tmp_path, framework, optimizer, rate):
    summary = _train(tmp_path, f"framework={framework}", f"optimizer={optimizer}", "scheduler=constant",
                     f"scheduler.base_lr={rate:g}")
    assert summary.status == "diverged"
    rows = read_epochs(summary.run_dir)
    assert len(rows) == 1 and rows[0]["epoch"] == 0
    assert {row["status"] for row in rows} == {"diverged"} and rows[0]["verdict"] == "diverged"
    losses = [rows[0]["train_loss"], rows[0]["test_loss"]]
    if rate == NON_FINITE:
        assert not all(math.isfinite(x) for x in losses), losses
    else:
        assert not all(math.isfinite(x) and x < verdicts.DIVERGED_LOSS for x in losses), losses
    assert "epoch 0" in verdicts.judge({k: [r[k] for r in rows] for k in rows[0]}).reason


def test_plateau_survives_a_nan_metric(tmp_path):
    summary = _train(tmp_path, "scheduler=plateau", f"scheduler.base_lr={NON_FINITE:g}", "data.val_size=256")
    assert summary.status == "diverged"
    (row,) = read_epochs(summary.run_dir)
    assert not math.isfinite(row["val_loss"]) and row["verdict"] == "diverged"


def test_a_sweep_whose_middle_run_diverges_trains_all_three(tmp_path):
    proc = run_cli("-m", f"scheduler.base_lr=0.1,{NON_FINITE:g},0.3", "scheduler=constant", *SMALL,
                   f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "harness: sweep done: 3 runs: 2 complete, 1 diverged" in proc.stdout, proc.stdout
    frame = pd.read_parquet(tmp_path, schema=EPOCHS_SCHEMA)
    assert frame.groupby("base_lr").status.last().to_dict() == {0.1: "complete", 0.3: "complete", 1e30: "diverged"}


RAISE_ON_SEED_1 = (
    "import adapters.torch_adapter as t\n"
    "_init, _train = t.TorchAdapter.__init__, t.TorchAdapter.train_epoch\n"
    "def _remember_seed(self, spec, optimizer, device, seed, *a, **k):\n"
    "    self.test_seed = seed\n"
    "    _init(self, spec, optimizer, device, seed, *a, **k)\n"
    "def _boom(self, *a, **k):\n"
    "    if self.test_seed == 1:\n"
    "        raise RuntimeError('simulated out of memory')\n"
    "    return _train(self, *a, **k)\n"
    "t.TorchAdapter.__init__, t.TorchAdapter.train_epoch = _remember_seed, _boom\n"
)


def test_a_run_that_raises_is_failed_and_the_sweep_goes_on_then_is_retried(tmp_path, capsys):
    sweep = ["-m", "seed=0,1,2", f"scheduler.base_lr={NON_FINITE:g},0.1", "scheduler=constant", *SMALL,
             "data.val_size=128", f"results_dir={tmp_path}"]  # a validation split, so tuning reads a grid
    proc, rc, _ = main_in_fresh_python(sweep, before=RAISE_ON_SEED_1)
    assert rc == 1, proc.stdout + proc.stderr
    # Named by the rate, the one setting besides the seed that differs between the sweep's runs.
    assert f"harness: failed: torch constant (lr={NON_FINITE:g}) seed=1: RuntimeError: simulated out of memory" in proc.stderr
    assert "sweep done: 6 runs: 1 complete, 2 diverged, 3 failed" not in proc.stdout  # seed 1 fails at both rates
    assert "sweep done: 6 runs: 2 complete, 2 diverged, 2 failed" in proc.stdout, proc.stdout
    failed = sorted(p for p in tmp_path.iterdir() if p.is_dir() and failure_of(p))
    assert [p.name.split("-")[2] for p in failed] == ["s1", "s1"]
    assert all(read_epochs(p) is None for p in failed)  # raised in its first epoch: no row, only _failed.txt
    assert "simulated out of memory" in (failed[0] / "_failed.txt").read_text()

    # Every reader accepts the folder and names each diverged and failed run.
    status = run_cli("status", str(tmp_path))
    assert status.returncode in (0, 1), status.stderr
    assert status.stdout.count("failed") >= 2 and status.stdout.count("diverged") >= 2, status.stdout
    report = run_cli("report", str(tmp_path))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "_report" / "report.md").read_text()
    assert "diverged" in text and "failed" in text
    from harness import tuning

    assert tuning.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "diverged: torch constant base_lr 1e+30: 2 of 2 seeds (never chosen)" in printed, printed
    assert printed.count("failed: torch-constant-s1-") == 2 and "simulated out of memory" in printed
    assert "torch constant: base_lr 0.1" in printed  # the diverged rate is never the choice

    # The same command retries the failed runs only; the others are skipped.
    proc, rc, _ = main_in_fresh_python(sweep)
    assert rc is None or rc == 0, proc.stdout + proc.stderr
    assert "sweep done: 6 runs: 1 complete, 1 diverged, 4 skipped" in proc.stdout, proc.stdout
    assert not any(failure_of(p) for p in tmp_path.iterdir() if p.is_dir())


@pytest.mark.parametrize("how", ["diverged", "failed"])
def test_trackers_record_a_diverged_or_failed_run_and_stay_readable(tmp_path, monkeypatch, how):
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    import sys
    import types

    from mlflow.tracking import MlflowClient

    from harness.sinks.mlflow import default_tracking_uri

    if how == "failed":  # the second epoch raises, after the first was written and copied
        import adapters.torch_adapter as torch_adapter

        real = torch_adapter.TorchAdapter.train_epoch
        calls = []

        def second_epoch_raises(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("simulated framework error")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(torch_adapter.TorchAdapter, "train_epoch", second_epoch_raises)
    rate = NON_FINITE if how == "diverged" else 0.1
    summary = _train(tmp_path, "framework=torch", "logger=[mlflow,tensorboard]", f"scheduler.base_lr={rate:g}",
                     "epochs=2" if how == "failed" else "epochs=1")
    assert summary.status == how
    rows = read_epochs(summary.run_dir)
    assert len(rows) == 1 and rows[0]["status"] == how
    if how == "failed":
        assert rows[0]["error"] == "RuntimeError: simulated framework error" and rows[0]["test_acc"] > 0

    client = MlflowClient(default_tracking_uri(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("harness").experiment_id])
    assert run.info.status == "FAILED"
    (loss,) = client.get_metric_history(run.info.run_id, "train_loss")
    assert (math.isfinite(loss.value) and loss.value > verdicts.DIVERGED_LOSS or not math.isfinite(loss.value)) \
        if how == "diverged" else loss.value == pytest.approx(rows[0]["train_loss"])

    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))  # read without TensorFlow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(summary.run_dir / "_tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("train_loss")] == [0]
    end = plugin_data_pb2.HParamsPluginData.FromString(
        accumulator.PluginTagToContent("hparams")["_hparams_/session_end_info"])
    assert end.session_end_info.status == 2  # STATUS_FAILURE
