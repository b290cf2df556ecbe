"""Sweep progress: one line as each run of a sweep starts and ends, with an estimate of what is left.

    harness: [7/18] torch cosine (optimizer=adam, lr=0.001) seed=2 starting (12 left, about 24 min)
    harness: [7/18] torch cosine (optimizer=adam, lr=0.001) seed=2 complete (11 left, about 22 min)

Each run is named by its framework and schedule, the settings that differ between the sweep's runs
(``harness.run_labels``) and its seed, so no two distinct runs print the same line.

The command's process (``cli.main``) knows the whole sweep before Hydra launches it: it puts
the list of run directories, which of them were finished before, and the start time into the
environment (``HARNESS_SWEEP``), which every launcher hands to its jobs (in-process, joblib
workers, submitit's local processes, SLURM jobs via sbatch's default ``--export=ALL``). Each job
then reads the runs' status from disk, as the ``sweep done`` count does, so the count is right
whichever process trained what. The estimate is the sweep's wall time so far per run it has
finished, times the runs left: with parallel jobs it counts runs per hour of wall time, so it
needs a couple of finished runs to settle. Runs finished before the sweep print no line (their
``skipped`` line says it), and neither does a run this process does not train (another process
holds it, or finished it meanwhile): its job prints its one line. A job that trains its run leaves
a mark in the sweep's ledger (a hidden folder in results_dir), so that ``sweep done`` counts what
this command trained and names the runs another process trained.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness.identity import folder_of
from harness.results import FINISHED

ENV = "HARNESS_SWEEP"


def settings_of(config: dict) -> dict:
    """A run's settings as the flat ``{key: value}`` that ``harness.run_labels`` compares, from its
    config as a plain dict (``as_dict`` of a ``RunConfig``, or the run's ``_config.yaml``): the
    optimizer and its hyperparameters, the schedule's parameters, the data sizes and the lengths."""
    data, optimizer = config.get("data") or {}, dict(config.get("optimizer") or {})
    scheduler = {k: v for k, v in (config.get("scheduler") or {}).items() if k not in ("name", "kind") and v is not None}
    settings = {
        "optimizer": optimizer.pop("name", None),
        "protocol": config.get("protocol"),
        "model": (config.get("model") or {}).get("name"),
        "dataset": data.get("name"),
        "batch_size": config.get("batch_size"),
        "epochs": config.get("epochs"),
        "train_size": data.get("train_size") or "all",  # null is the whole set (validate.canonical_config)
        "test_size": data.get("test_size") or "all",
        "val_size": data.get("val_size") or 0,
        "subset_seed": data.get("subset_seed"),
        "val_seed": data.get("val_seed"),
    }
    for key, value in {**optimizer, **scheduler}.items():
        settings[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    return settings


def differing_within(settings: list[dict], groups: list, leave_out: tuple = ()) -> list[str]:
    """For each run, ``lr=0.1, batch=128``: the settings that differ between the runs of its group
    (runs whose names are already told apart by their group, e.g. another schedule, need nothing
    more: a constant rate has no final_lr to compare with a cosine's), ``leave_out`` aside."""
    from harness.run_labels import describe, differing_keys

    members: dict = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    out = [""] * len(settings)
    for indices in members.values():
        keys = [k for k in differing_keys([settings[i] for i in indices]) if k not in leave_out]
        for i in indices:
            out[i] = describe(settings[i], keys) if keys else ""
    return out


def run_labels(configs: list) -> list[str]:
    """``torch cosine (optimizer=adam, lr=0.001) seed=2`` for each run (RunConfigs or plain dicts):
    its framework and schedule, the settings that differ from the other runs of that framework and
    schedule, and its seed."""
    from harness.schema import as_dict

    plains = [as_dict(cfg) for cfg in configs]
    heads = [f"{(p.get('framework') or {}).get('name', '?')} {(p.get('scheduler') or {}).get('name', '?')}" for p in plains]
    extras = differing_within([settings_of(p) for p in plains], heads)
    return [f"{head} ({extra}) seed={p.get('seed', '?')}" if extra else f"{head} seed={p.get('seed', '?')}"
            for head, extra, p in zip(heads, extras, plains)]


@contextlib.contextmanager
def sweep_announced(configs: list, finished_before: list, ledger: bool = True):
    """In the command's process, around Hydra's launch of a sweep (nothing for a single run).
    Yields the sweep's ledger folder (None outside a sweep, without ``ledger``, or where it cannot
    be made)."""
    if not configs:
        yield None
        return
    folder = _new_ledger(configs) if ledger else None
    os.environ[ENV] = json.dumps({
        "started": time.time(),
        "runs": [str(folder_of(cfg)) for cfg in configs],
        "labels": run_labels(configs),
        "finished_before": [bool(before) for before in finished_before],
        "ledger": str(folder) if folder else None,
    })
    try:
        yield folder
    finally:
        os.environ.pop(ENV, None)


def _new_ledger(configs: list) -> Path | None:
    try:
        # Beside the runs (a hidden name: parquet readers and `status` skip it), so a job on
        # another node of a cluster finds it as it finds results_dir.
        root = folder_of(configs[0]).parent
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".sweep-", dir=root))
    except OSError:
        return None  # an unwritable results_dir: the runs say so themselves


def trained_here(ledger: Path | None) -> set[str] | None:
    """The run folders' names this sweep's jobs trained (their ledger marks), and the ledger
    removed; None without a ledger."""
    if ledger is None:
        return None
    names = {mark.name for mark in ledger.iterdir()} if ledger.is_dir() else set()
    shutil.rmtree(ledger, ignore_errors=True)
    return names


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


def sweep_label(cfg) -> str | None:
    """The run's label in the sweep its command announced (None outside a sweep)."""
    manifest = json.loads(os.environ.get(ENV) or "null")
    here = str(folder_of(cfg)) if manifest else None
    if not manifest or here not in manifest["runs"]:
        return None
    return manifest["labels"][manifest["runs"].index(here)]


class _Job:
    """What ``reported`` hands the runner: ``started()`` once this process holds the run and is
    about to train it, so the start line is printed only for a run this process trains."""

    def __init__(self, manifest: dict | None, here: str | None) -> None:
        self.manifest, self.here, self.trained = manifest, here, False
        if manifest:
            self.position = manifest["runs"].index(here) + 1
            self.name = manifest["labels"][self.position - 1]

    def started(self) -> None:
        self.trained = True
        if self.manifest:
            print(line(self.manifest, self.position, self.name, "starting", time.time()), flush=True)


@contextlib.contextmanager
def reported(cfg):
    """Around one job: yields a ``_Job`` whose ``started`` the runner calls when it trains the run;
    in a sweep that prints the start line, and the end line follows (nothing outside a sweep, or
    for a run finished before the sweep)."""
    manifest = json.loads(os.environ.get(ENV) or "null")
    here = str(folder_of(cfg)) if manifest else None
    if not manifest or here not in manifest["runs"] or manifest["finished_before"][manifest["runs"].index(here)]:
        yield _Job(None, None)
        return
    job = _Job(manifest, here)
    try:
        yield job
    finally:
        if job.trained:
            status = _status_on_disk(Path(here))
            event = status if status in FINISHED else "unfinished"
            if manifest.get("ledger"):
                try:
                    (Path(manifest["ledger"]) / Path(here).name).touch()
                except OSError:
                    pass  # the count then says "another process" for it; nothing else depends on it
            print(line(manifest, job.position, job.name, event, time.time()), flush=True)
