"""Per-epoch checkpoints, so that a killed run continues where it stopped.

A checkpoint is two files in the run's directory, both written atomically:
``_checkpoint.npz`` (the adapter's state: weights and optimizer buffers, numpy arrays only,
loaded with ``allow_pickle=False``, so loading runs no code) and ``_checkpoint.json`` (which
epoch it follows, the step counter, the run_id). The batch order and the learning rates are
pure functions of (seed, epoch), so no random-generator state needs saving. The names start
with ``_`` so that parquet readers of the results directory skip them.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.results import CorruptFile, atomic_write_bytes

STATE_FILE = "_checkpoint.npz"
META_FILE = "_checkpoint.json"


@dataclass
class Checkpoint:
    epoch: int  # the last finished epoch
    step: int
    run_id: str
    state: dict[str, np.ndarray]


def save(run_dir: Path, state: dict[str, np.ndarray], epoch: int, step: int, run_id: str) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    # State first, then the metadata that points at it: a kill between the two leaves the old
    # metadata, whose epoch is then simply trained again (identically).
    atomic_write_bytes(run_dir / STATE_FILE, buffer.getvalue())
    meta = {"epoch": epoch, "step": step, "run_id": run_id, "arrays": sorted(state)}
    atomic_write_bytes(run_dir / META_FILE, json.dumps(meta).encode())


def load(run_dir: Path) -> Checkpoint | None:
    """The run's checkpoint, None if it has none, or CorruptFile if it cannot be trusted."""
    meta_path, state_path = run_dir / META_FILE, run_dir / STATE_FILE
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(state_path, allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
        if sorted(state) != meta["arrays"]:
            raise ValueError(f"arrays {sorted(state)} do not match the metadata")
        return Checkpoint(int(meta["epoch"]), int(meta["step"]), str(meta["run_id"]), state)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise CorruptFile(f"{run_dir / STATE_FILE} ({exc})") from None


def remove(run_dir: Path) -> None:
    for name in (META_FILE, STATE_FILE):
        (run_dir / name).unlink(missing_ok=True)


def set_aside(run_dir: Path, reason: str) -> Path:
    """Move a run directory to ``<results_dir>/_<reason>/<name>.<time>`` (kept, never deleted)."""
    target = run_dir.parent / f"_{reason}" / f"{run_dir.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    target.parent.mkdir(exist_ok=True)
    shutil.move(str(run_dir), str(target))
    # Kept aside, it must not be read by `read_parquet('results/**/*.parquet')` any more.
    for table in target.glob("*.parquet"):
        table.rename(table.with_name(f"{table.name}.{reason}"))
    return target
