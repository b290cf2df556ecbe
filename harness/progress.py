"""Sweep progress: one line as each run of a sweep starts and ends, with an estimate of what is left.

    harness: [7/18] torch cosine seed=2 starting (12 left, about 24 min)
    harness: [7/18] torch cosine seed=2 complete (11 left, about 22 min)

The command's process (``cli.main``) knows the whole sweep before Hydra launches it: it puts
the list of run directories, which of them were finished before, and the start time into the
environment (``HARNESS_SWEEP``), which every launcher hands to its jobs (in-process, joblib
workers, submitit's local processes, SLURM jobs via sbatch's default ``--export=ALL``). Each job
then reads the runs' status from disk, as the ``sweep done`` count does, so the count is right
whichever process trained what. The estimate is the sweep's wall time so far per run it has
finished, times the runs left: with parallel jobs it counts runs per hour of wall time, so it
needs a couple of finished runs to settle. Runs finished before the sweep print no line (their
``skipped`` line says it).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from harness.identity import folder_of
from harness.results import FINISHED

ENV = "HARNESS_SWEEP"


@contextlib.contextmanager
def sweep_announced(configs: list, finished_before: list):
    """In the command's process, around Hydra's launch of a sweep (nothing for a single run)."""
    if not configs:
        yield
        return
    os.environ[ENV] = json.dumps({
        "started": time.time(),
        "runs": [str(folder_of(cfg)) for cfg in configs],
        "finished_before": [bool(before) for before in finished_before],
    })
    try:
        yield
    finally:
        os.environ.pop(ENV, None)


def _status_on_disk(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        statuses = pq.ParquetFile(path / "epochs.parquet").read(columns=["status"]).column("status")
    except Exception:  # not written yet, or unreadable: not finished either way
        return None
    return statuses[-1].as_py() if len(statuses) else None


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def line(manifest: dict, position: int, name: str, event: str, now: float) -> str:
    runs = manifest["runs"]
    finished = sum(_status_on_disk(Path(path)) in FINISHED for path in runs)
    trained = finished - sum(manifest["finished_before"])
    left = len(runs) - finished
    outlook = f"{left} left" if left else "none left"
    if left and trained > 0:
        outlook += f", {_duration((now - manifest['started']) / trained * left)}"
    return f"harness: [{position}/{len(runs)}] {name} {event} ({outlook})"


@contextlib.contextmanager
def reported(cfg):
    """Around one job of a sweep: its start line, then its end line (nothing outside a sweep)."""
    manifest = json.loads(os.environ.get(ENV) or "null")
    here = str(folder_of(cfg)) if manifest else None
    if not manifest or here not in manifest["runs"] or manifest["finished_before"][manifest["runs"].index(here)]:
        yield
        return
    position = manifest["runs"].index(here) + 1
    name = f"{cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed}"
    print(line(manifest, position, name, "starting", time.time()), flush=True)
    try:
        yield
    finally:
        status = _status_on_disk(Path(here))
        event = status if status in FINISHED else "unfinished"
        print(line(manifest, position, name, event, time.time()), flush=True)
