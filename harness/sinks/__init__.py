"""Tracking sinks: copies of a run's parquet rows in MLflow or TensorBoard, never the source.

The runner calls a sink at one point: after an epoch's parquet and checkpoint are written, so
whatever a tracker holds, the parquet holds too. A sink is three calls:

- ``open(run, resumed_from)``: ``run`` is a ``SinkRun``; ``resumed_from`` is the epoch a killed
  run continues from (None for a fresh start), so that a tracker appends to the same run;
- ``epoch(row)``: the epoch's parquet row (``step_lrs`` holds the rate of every update);
- ``close(status)``: complete | diverged | failed | interrupted.

``Sinks`` fans the calls out. A sink that raises (server down, disk full) prints one warning
line and is switched off for the rest of the run; training and the parquet carry on. Each
tracker's package is imported only when its sink opens, so ``--help`` and runs without a
logger import neither.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError

# logger option -> (module that implements it, packages it needs, the extra that installs them)
KNOWN = {
    "mlflow": ("harness.sinks.mlflow", ("mlflow",), "mlflow"),
    "tensorboard": ("harness.sinks.tensorboard", ("tensorboardX",), "tensorboard"),
}
# Per-epoch values a tracker gets, when the row has them (val_* only where a run validates).
EPOCH_METRICS = ("lr", "momentum", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                 "train_time_s", "eval_time_s")
STEP_METRIC = "step_lr"  # the per-update learning rate, against the update count


@dataclass
class SinkRun:
    """What a tracker needs to know about the run it copies."""

    name: str  # the run directory's name: <framework>-<scheduler>-s<seed>-<run_id>
    run_id: str
    run_dir: Path
    results_dir: Path
    tags: dict[str, str]  # framework, scheduler, optimizer, seed, protocol, run_id, git_sha
    params: dict[str, str]  # the resolved config, flattened ("scheduler.base_lr": "0.3")
    hparams: dict[str, Any]  # scalar settings that tell runs apart, for TensorBoard's HParams
    previous_rows: list[dict] = field(default_factory=list)  # epochs done before a resume


class Sink(Protocol):
    name: str

    def open(self, run: SinkRun, resumed_from: int | None) -> None: ...

    def epoch(self, row: dict) -> None: ...

    def close(self, status: str) -> None: ...


def enabled(cfg) -> list[str]:
    """The logger options a config turns on, in a fixed order."""
    logger = cfg.get("logger") or {}
    return [name for name in KNOWN if logger.get(name) is not None]


def validate(cfg) -> None:
    """Fail before anything trains when a sink's package is missing."""
    for name in enabled(cfg):
        _module, packages, extra = KNOWN[name]
        missing = [p for p in packages if importlib.util.find_spec(p) is None]
        if missing:
            raise HarnessError(
                f"logger={name} needs {', '.join(missing)}, which is not installed; "
                f"install the extra: pip install -e '.[{extra}]'"
            )


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """{"scheduler": {"base_lr": 0.3}} -> {"scheduler.base_lr": "0.3"}; lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value, sort_keys=True)
        else:
            flat[name] = "null" if value is None else str(value)
    return flat


# Settings left out of the HParams table: where results go, display, and the layer list.
HPARAMS_SKIPPED = ("results_dir", "progress", "keep_checkpoint", "rerun", "data.root", "data.download")


def sink_run(cfg, identity: dict, run_dir: Path, previous_rows: list[dict]) -> SinkRun:
    from harness.schema import as_dict

    plain = as_dict(cfg)
    params = flatten(plain)
    hparams: dict[str, Any] = {}
    for key, value in _scalars(plain):
        if key not in HPARAMS_SKIPPED and not key.startswith(("logger.", "model.layers")):
            hparams[key] = "null" if value is None else value
    tags = {key: str(identity[key]) for key in ("framework", "scheduler", "optimizer", "seed", "protocol",
                                                 "run_id", "git_sha")}
    return SinkRun(run_dir.name, identity["run_id"], run_dir, run_dir.parent, tags, params, hparams,
                   list(previous_rows))


def _scalars(config: dict, prefix: str = ""):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _scalars(value, f"{prefix}{key}.")
        elif not isinstance(value, (list, tuple)):
            yield f"{prefix}{key}", value


class Sinks:
    """The fan-out: every call goes to every sink still working; a failure costs that sink only."""

    def __init__(self, sinks: list):
        self.sinks = list(sinks)

    def _each(self, call: str, *args) -> None:
        for sink in list(self.sinks):
            try:
                getattr(sink, call)(*args)
            except Exception as exc:  # a tracker's failure must never stop training or the parquet
                self.sinks.remove(sink)
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                print(f"harness: warning: logger={sink.name} failed in {call}() ({type(exc).__name__}: "
                      f"{reason[:300]}); it is off for the rest of this run, the parquet results are "
                      f"unaffected", file=sys.stderr, flush=True)

    def open(self, run: SinkRun, resumed_from: int | None) -> None:
        self._each("open", run, resumed_from)

    def epoch(self, row: dict) -> None:
        self._each("epoch", row)

    def close(self, status: str) -> None:
        global _open
        self._each("close", status)
        self.sinks = []
        if _open is self:
            _open = None


_open: Sinks | None = None  # the sinks of the run this process is training (one at a time)


def open_run(cfg, identity: dict, run_dir: Path, rows: list[dict], resumed_from: int | None) -> Sinks:
    """The runner's one call before its loop: build and open the sinks the config asks for."""
    global _open
    sinks = []
    for name in enabled(cfg):
        module = __import__(KNOWN[name][0], fromlist=["make"])
        sinks.append(module.make(cfg.logger[name], run_dir.parent))  # results_dir, resolved
    fanout = Sinks(sinks)
    if sinks:
        fanout.open(sink_run(cfg, identity, run_dir, rows), resumed_from)
    _open = fanout
    return fanout


@contextlib.contextmanager
def closed_on_error():
    """Around a run's training: if it ends by an exception, the open sinks record it
    (``interrupted`` for Ctrl-C or a SystemExit, ``failed`` otherwise). A process killed
    outright records nothing; its resume continues the same tracker run."""
    try:
        yield
    except BaseException as exc:
        if _open is not None:
            _open.close("interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed")
        raise
