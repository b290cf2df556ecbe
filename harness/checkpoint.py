"""Per-epoch checkpoints, so that a killed run continues where it stopped.

A checkpoint is one file in the run's directory, ``_checkpoint.npz``, written atomically: the
adapter's state (weights and optimizer buffers) and, under ``__meta__``, which epoch it follows,
the step counter, the run_id and the state of a metric-driven schedule (``scheduler=plateau``),
as JSON bytes. One file, so that state and metadata can never
disagree after a kill. It holds numpy arrays only and is loaded with ``allow_pickle=False``, so
loading runs no code. The batch order and the learning rates are pure functions of (seed,
epoch), so no random-generator state needs saving. The name starts with ``_`` so that parquet
readers of the results directory skip it.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.results import CorruptFile, atomic_write_bytes

STATE_FILE = "_checkpoint.npz"
META_KEY = "__meta__"


@dataclass
class Checkpoint:
    epoch: int  # the last finished epoch
    step: int
    run_id: str
    state: dict[str, np.ndarray]
    schedule_state: dict = field(default_factory=dict)  # harness.plateau.PlateauState.to_dict(), or empty


def save(run_dir: Path, state: dict[str, np.ndarray], epoch: int, step: int, run_id: str,
         schedule_state: dict | None = None) -> None:
    meta = json.dumps({"epoch": epoch, "step": step, "run_id": run_id, "schedule_state": schedule_state or {}}).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **state, **{META_KEY: np.frombuffer(meta, dtype=np.uint8)})
    atomic_write_bytes(run_dir / STATE_FILE, buffer.getvalue())


def load(run_dir: Path) -> Checkpoint | None:
    """The run's checkpoint, None if it has none, or CorruptFile if it cannot be trusted."""
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
        meta = json.loads(state.pop(META_KEY).tobytes())
        return Checkpoint(int(meta["epoch"]), int(meta["step"]), str(meta["run_id"]), state,
                          dict(meta.get("schedule_state") or {}))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise CorruptFile(f"{path} ({exc})") from None


def remove(run_dir: Path) -> None:
    (run_dir / STATE_FILE).unlink(missing_ok=True)
