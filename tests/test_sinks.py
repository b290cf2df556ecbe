"""Tracking sinks (logger=mlflow, logger=tensorboard): read back with each tool's own reader and
compared value for value with the parquet, across an interruption and a resume.

One tiny PyTorch run (512 images, 2 epochs) with both sinks at once, interrupted after its
first epoch's checkpoint and resumed, is shared by every test of the module.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from harness import checkpoint
from harness.cli import compose_run, preflight
from harness.identity import run_id
from harness.errors import HarnessError
from harness.runner import Interrupted, run
from harness.sinks import EPOCH_METRICS, STEP_METRIC, Sinks
from harness.validate import validate
from tests.conftest import framework_installed

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

pytest.importorskip("mlflow")
pytest.importorskip("tensorboardX")
pytest.importorskip("tensorboard")
if not framework_installed("torch"):
    pytest.skip("torch is not installed", allow_module_level=True)

TINY = ["framework=torch", "data.train_size=512", "data.test_size=500", "epochs=2", "threads=1", "progress=false"]
BOTH = "logger=[mlflow,tensorboard]"


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The run, interrupted (Ctrl-C) right after epoch 0's checkpoint, before the trackers got
    epoch 0, then resumed by the same config, then asked for a third time (skipped)."""
    results = tmp_path_factory.mktemp("sinks")
    cfg = validate(compose_run([*TINY, BOTH, f"results_dir={results}"]))
    original = checkpoint.save

    def save_then_interrupt(*args):
        original(*args)
        raise KeyboardInterrupt

    checkpoint.save = save_then_interrupt
    try:
        with pytest.raises(Interrupted):  # Ctrl-C: the runner's clean stop
            run(cfg)
    finally:
        checkpoint.save = original
    from mlflow.tracking import MlflowClient

    from harness.sinks.mlflow import default_tracking_uri

    client = MlflowClient(default_tracking_uri(results))
    (killed,) = client.search_runs([client.get_experiment_by_name("harness").experiment_id])
    summary = run(cfg)
    assert summary.status == "complete" and summary.resumed_from == 1
    events = sorted((summary.run_dir / "_tensorboard").iterdir())
    mlflow_db = (results / "_mlflow" / "mlflow.db").stat().st_mtime_ns
    skipped = run(cfg)
    return types.SimpleNamespace(
        cfg=cfg, results=results, summary=summary, killed_status=killed.info.status, client=client,
        parquet=pd.read_parquet(summary.run_dir / "epochs.parquet"), events_before_skip=events,
        skipped=skipped, mlflow_db_before_skip=mlflow_db,
    )


def test_mlflow_one_run_with_name_tags_params_and_status(resumed):
    import mlflow

    mlflow.set_tracking_uri(resumed.client.tracking_uri)
    found = mlflow.search_runs(experiment_names=["harness"], output_format="pandas")
    assert len(found) == 1  # the resume continued the same MLflow run
    one = found.iloc[0]
    row = resumed.parquet.iloc[-1]
    assert resumed.killed_status == "KILLED" and one["status"] == "FINISHED"
    assert one["tags.mlflow.runName"] == resumed.summary.run_dir.name
    for key in ("framework", "scheduler", "optimizer", "seed", "protocol", "run_id", "git_sha"):
        assert one[f"tags.{key}"] == str(row[key])
    assert one["params.scheduler.base_lr"] == str(resumed.cfg.scheduler.base_lr)
    assert one["params.data.train_size"] == "512" and one["params.epochs"] == "2"


def test_mlflow_metric_histories_equal_the_parquet(resumed):
    client, table = resumed.client, resumed.parquet
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("harness").experiment_id])
    for key in EPOCH_METRICS:
        if key not in table or table[key].isna().all():
            continue
        history = sorted((m.step, m.value) for m in client.get_metric_history(mlflow_run.info.run_id, key))
        assert history == list(zip(table["epoch"], table[key].astype(float))), key  # epoch 0 once, after the resume
    steps = sorted((m.step, m.value) for m in client.get_metric_history(mlflow_run.info.run_id, STEP_METRIC))
    expected = np.concatenate(table["step_lrs"].to_numpy())
    assert [s for s, _ in steps] == list(range(len(expected)))
    assert [v for _, v in steps] == expected.tolist()


def test_tensorboard_scalars_and_hparams_equal_the_parquet(resumed):
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))  # read without TensorFlow
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(resumed.summary.run_dir / "_tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    table = resumed.parquet
    for key in EPOCH_METRICS:
        if key not in table or table[key].isna().all():
            continue
        got = [(e.step, e.value) for e in accumulator.Scalars(key)]
        assert got == [(int(e), float(np.float32(v))) for e, v in zip(table["epoch"], table[key])], key
    expected = np.concatenate(table["step_lrs"].to_numpy()).astype(np.float32)
    got = accumulator.Scalars(STEP_METRIC)
    assert [e.step for e in got] == list(range(len(expected)))
    assert [e.value for e in got] == expected.tolist()
    hparams = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["scheduler.name"].string_value == "cosine"
    assert start.session_start_info.hparams["seed"].number_value == 0
    end = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_end_info"])
    assert end.session_end_info.status == 1  # STATUS_SUCCESS


def test_a_skipped_finished_run_logs_nothing(resumed):
    assert resumed.skipped.status == "skipped"
    assert sorted((resumed.summary.run_dir / "_tensorboard").iterdir()) == resumed.events_before_skip
    assert (resumed.results / "_mlflow" / "mlflow.db").stat().st_mtime_ns == resumed.mlflow_db_before_skip


def test_parquet_readers_ignore_the_tracker_files(resumed):
    import duckdb
    import polars as pl

    expected = len(resumed.parquet)
    assert len(pd.read_parquet(resumed.results)) == expected
    assert duckdb.sql(f"select count(*) from read_parquet('{resumed.results}/**/*.parquet')").fetchall()[0][0] == expected
    assert pl.read_parquet(f"{resumed.results}/**/*.parquet").height == expected


def test_logger_is_not_part_of_the_run_identity(tmp_path):
    plain = compose_run([*TINY, f"results_dir={tmp_path}"])
    for logger in (["logger=mlflow"], ["logger=tensorboard"], [BOTH],
                   ["logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:1"]):
        assert run_id(compose_run([*TINY, f"results_dir={tmp_path}", *logger])) == run_id(plain)


def test_a_sink_failing_mid_run_warns_once_and_training_goes_on(tmp_path, capsys, monkeypatch):
    from harness.sinks.tensorboard import TensorBoardSink

    calls = []

    def disk_full(self, row):
        calls.append(row["epoch"])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TensorBoardSink, "epoch", disk_full)
    summary = run(validate(compose_run([*TINY, "logger=tensorboard", f"results_dir={tmp_path}"])))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line and "logger=" in line]
    assert summary.status == "complete" and len(pd.read_parquet(summary.run_dir / "epochs.parquet")) == 2
    assert calls == [0]  # switched off after its failure
    assert len(warnings) == 1 and "logger=tensorboard failed" in warnings[0] and "No space left" in warnings[0]


def test_fan_out_keeps_the_working_sinks():
    class Recorder:
        def __init__(self, name, fail_on=None):
            self.name, self.fail_on, self.calls = name, fail_on, []

        def open(self, run, resumed_from):
            self.calls.append("open")

        def epoch(self, row):
            if row == self.fail_on:
                raise ConnectionError("server down")
            self.calls.append(row)

        def close(self, status):
            self.calls.append(status)

    good, bad = Recorder("good"), Recorder("bad", fail_on=1)
    sinks = Sinks([bad, good])
    sinks.open(None, None)
    for row in (0, 1, 2):
        sinks.epoch(row)
    sinks.close("complete")
    assert good.calls == ["open", 0, 1, 2, "complete"] and bad.calls == ["open", 0]


def test_an_unknown_logger_lists_the_known_ones(tmp_path):
    for logger in ("logger=wandb", "logger=[mlflow,wandb]"):
        with pytest.raises(HarnessError, match=r"logger='wandb' is unknown; choose one of: mlflow, tensorboard"):
            preflight([*TINY, logger, f"results_dir={tmp_path}"])


def test_a_missing_extra_is_the_usual_one_line_error(tmp_path, monkeypatch):
    import harness.sinks as sinks

    cfg = compose_run([*TINY, "logger=mlflow", f"results_dir={tmp_path}"])
    monkeypatch.setattr(sinks.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HarnessError, match=r"logger=mlflow needs mlflow.*pip install -e '\.\[mlflow\]'"):
        sinks.validate(cfg)
