"""logger=tensorboard: TensorBoard event files in ``<run_dir>/_tensorboard/``.

Scalars: each epoch's values at ``step=epoch``, and ``step_lr``, the rate of every update, at
``step=update``. The HParams plugin gets the run's settings (session start) and its final
status (session end), so the HParams dashboard compares runs by scheduler, seed, base_lr, ...
The folder starts with ``_`` so that ``pandas.read_parquet(results_dir)`` does not try to read
event files as parquet; ``tensorboard --logdir <results_dir>`` finds every run's folder.

The writer is tensorboardX: it needs only protobuf and numpy, where ``torch.utils.tensorboard``
imports PyTorch and ``tf.summary`` (and TensorBoard's own writer, through ``tf.io.gfile``)
imports TensorFlow. tensorboardX itself tries ``import torch`` when it loads, only to recognise
tensors, so an MXNet or TensorFlow run would load PyTorch for nothing; it is hidden from that
import (we only ever hand it floats).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.sinks import EPOCH_METRICS, STEP_METRIC, SinkRun

EVENTS_DIR = "_tensorboard"
# HParams session status (tensorboard/plugins/hparams/api.proto)
STATUS = {"complete": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE", "failed": "STATUS_FAILURE",
          "interrupted": "STATUS_ABORTED"}
FINAL_METRICS = ("test_acc", "test_loss", "train_acc", "train_loss")  # HParams' metric columns


def make(settings, results_dir: Path) -> "TensorBoardSink":
    return TensorBoardSink()


def _import_tensorboardx():
    hide = "torch" not in sys.modules  # tensorboardX's `try: import torch` (see the module docstring)
    if hide:
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
        import tensorboardX
        import tensorboardX.summary
    finally:
        if hide:
            del sys.modules["torch"]
    return tensorboardX


class TensorBoardSink:
    name = "tensorboard"

    def __init__(self):
        self.writer = None

    def open(self, run: SinkRun, resumed_from: int | None) -> None:
        tensorboardX = _import_tensorboardx()
        events = run.run_dir / EVENTS_DIR
        # Event files are a copy: on a resume (or a fresh start over leftovers) they are written
        # anew from the parquet rows, so no epoch is missing or doubled whenever the kill came.
        for old in events.glob("events.out.tfevents.*"):
            old.unlink()
        self.writer = tensorboardX.SummaryWriter(logdir=str(events), flush_secs=30)
        experiment, session_start, _ = tensorboardX.summary.hparams(
            run.hparams, {metric: None for metric in FINAL_METRICS}
        )
        self.writer.file_writer.add_summary(experiment)
        self.writer.file_writer.add_summary(session_start)
        for row in run.previous_rows:
            self.epoch(row)

    def epoch(self, row: dict) -> None:
        now = time.time()
        for key in EPOCH_METRICS:
            if row.get(key) is not None:
                self.writer.add_scalar(key, float(row[key]), row["epoch"], walltime=now)
        first_step = row["step"] - len(row["step_lrs"])
        for i, lr in enumerate(row["step_lrs"]):
            self.writer.add_scalar(STEP_METRIC, float(lr), first_step + i, walltime=now)
        self.writer.flush()

    def close(self, status: str) -> None:
        from tensorboardX.proto.api_pb2 import Status
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

        end = SessionEndInfo(status=Status.Value(STATUS.get(status, "STATUS_FAILURE")), end_time_secs=time.time())
        content = HParamsPluginData(session_end_info=end, version=0)
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=content.SerializeToString()))
        self.writer.file_writer.add_summary(
            Summary(value=[Summary.Value(tag="_hparams_/session_end_info", metadata=metadata)]))
        self.writer.close()
