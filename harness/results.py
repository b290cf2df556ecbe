"""The results directory: one folder per run, one tidy parquet table per run.

``<results_dir>/<framework>-<scheduler>-s<seed>-<run_id>/`` holds:

- ``epochs.parquet``: one row per finished epoch, the run's identity on every row, and the
  learning rate of every update of that epoch in ``step_lrs`` (the per-update trace);
- ``_config.yaml``: the resolved config (pyarrow skips names starting with ``_`` or ``.``).

Every parquet file written by this version has the same schema (``EPOCHS_SCHEMA``), so
``pandas.read_parquet(results_dir)``, DuckDB's ``read_parquet('results/**/*.parquet')`` and
polars read all runs at once. The schema only ever grows by columns appended at its end
(``schema_version`` says which); files of an earlier version are read, with the columns they
lack filled with nulls (or the value they imply, ``OLDER_DEFAULTS``), never set aside for being
older. Files are written to a hidden temporary name and renamed, so a reader (or a killed
writer) never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.paths import PROJECT_ROOT
from harness.errors import HarnessError

SCHEMA_VERSION = 4  # 2: variant, schedule_params, optimizer_params, model_hash, subset_seed; 3: error; 4: dataset
EPOCHS_FILE = "epochs.parquet"
CONFIG_FILE = "_config.yaml"  # the leading _ makes pyarrow's directory reader skip it
FAILED_FILE = "_failed.txt"  # a run that raised before its first epoch: the error, where no row can hold it
FINISHED = ("complete", "diverged")  # a run whose last row says either is never trained again (unless rerun=true)

EPOCHS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("framework", pa.string()),
        ("framework_version", pa.string()),
        ("device", pa.string()),
        ("tf32", pa.bool_()),
        ("protocol", pa.string()),
        ("model", pa.string()),
        ("scheduler", pa.string()),
        ("unit", pa.string()),
        ("optimizer", pa.string()),
        ("base_lr", pa.float64()),
        ("seed", pa.int64()),
        ("batch_size", pa.int64()),
        ("epochs", pa.int64()),
        ("train_size", pa.int64()),
        ("test_size", pa.int64()),
        ("epoch", pa.int64()),
        ("step", pa.int64()),  # optimizer updates applied when the epoch ended
        ("lr", pa.float64()),  # learning rate of the epoch's first update
        ("step_lrs", pa.list_(pa.float64())),  # learning rate of every update of the epoch
        ("train_loss", pa.float64()),
        ("train_acc", pa.float64()),
        ("test_loss", pa.float64()),
        ("test_acc", pa.float64()),
        ("train_time_s", pa.float64()),
        ("eval_time_s", pa.float64()),
        ("status", pa.string()),  # running | complete | diverged | interrupted | failed
        ("git_sha", pa.string()),
        ("schema_version", pa.int64()),
        # Schema version 2: what ran, beyond the columns above.
        ("variant", pa.string()),  # short label of the schedule and its parameters: cosine(lr=0.3, final=0.01, T=20)
        ("schedule_params", pa.string()),  # JSON: every parameter of the schedule, kind and unit included
        ("optimizer_params", pa.string()),  # JSON: the optimizer's hyperparameters
        ("model_hash", pa.string()),  # hash of the network's spec (layers, input, classes, init)
        ("subset_seed", pa.int64()),  # seed of the data.train_size / test_size subsets
        ("val_loss", pa.float64()),  # on the validation split (data.val_size); null without one
        ("val_acc", pa.float64()),
        ("verdict", pa.string()),  # harness.verdicts, on every row once the run has finished; null before
        ("momentum", pa.float64()),  # momentum (beta1) of the epoch's first update, or the optimizer's constant
        ("step_momenta", pa.list_(pa.float64())),  # momentum of every update; null when it is constant
        ("weight_decay", pa.float64()),  # optimizer.weight_decay (null in files written before it)
        ("lr_mult", pa.string()),  # optimizer.lr_mult as JSON, e.g. {"conv1": 0.1}; null: every multiplier 1
        # Schema version 3.
        ("error", pa.string()),  # status=failed: the exception's one-line message; null otherwise
        # Schema version 4.
        ("dataset", pa.string()),  # data.name (harness/datasets.py); files written before it: fashion_mnist
    ]
)


# The names of EPOCHS_SCHEMA's columns by who fills them: the run's identity, the same on every
# row (``run_columns``), and what each epoch measured (``epoch_row``); ``status``, ``verdict`` and
# ``error`` are the run's state, rewritten on every row as it changes.
RUN_COLUMNS = (
    "run_id", "framework", "framework_version", "device", "tf32", "protocol", "model", "scheduler", "unit",
    "optimizer", "weight_decay", "lr_mult", "base_lr", "seed", "batch_size", "epochs", "train_size", "test_size",
    "git_sha", "schema_version", "variant", "schedule_params", "optimizer_params", "model_hash", "subset_seed",
    "dataset",
)
MEASURED_COLUMNS = (
    "epoch", "step", "lr", "step_lrs", "train_loss", "train_acc", "test_loss", "test_acc", "train_time_s",
    "eval_time_s", "val_loss", "val_acc", "momentum", "step_momenta",
)
STATE_COLUMNS = ("status", "verdict", "error")
if sorted(RUN_COLUMNS + MEASURED_COLUMNS + STATE_COLUMNS) != sorted(EPOCHS_SCHEMA.names):  # pragma: no cover
    raise AssertionError("RUN_COLUMNS, MEASURED_COLUMNS and STATE_COLUMNS must name EPOCHS_SCHEMA's columns once each")


def _exactly(names: dict, expected: tuple[str, ...], what: str) -> None:
    missing, extra = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
    if missing or extra:
        raise ValueError(f"{what}: missing {missing}, unknown {extra} (see results.EPOCHS_SCHEMA)")


def run_columns(**values) -> dict:
    """The identity columns of a run's rows, ``schema_version`` filled in; ValueError when a
    name of ``RUN_COLUMNS`` is missing or one is not a column."""
    values = {**values, "schema_version": SCHEMA_VERSION}
    _exactly(values, RUN_COLUMNS, "run_columns")
    return values


def epoch_row(run: dict, **measured) -> dict:
    """One epoch's row: the run's identity columns and what the epoch measured, no verdict yet
    (the status is set by the runner, on every row at once); ValueError on a missing or unknown
    name."""
    _exactly(run, RUN_COLUMNS, "epoch_row's run columns")
    _exactly(measured, MEASURED_COLUMNS, "epoch_row")
    return {**run, **measured, "verdict": None}


class CorruptFile(Exception):
    """A file in a run directory that cannot be read back."""


def read_epochs(run_dir: Path) -> list[dict] | None:
    """The rows a run has written so far, None if it has written none."""
    path = run_dir / EPOCHS_FILE
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise CorruptFile(f"{path} ({exc})") from None
    return upgrade(table, path).to_pylist()


def finished_status(run_dir: Path) -> str | None:
    """'complete' or 'diverged' when the run's rows say it is finished, else None (no rows yet,
    interrupted, or unreadable). Read from disk, so it holds whichever process trained the run."""
    try:
        rows = read_epochs(run_dir)
    except CorruptFile:
        return None
    return rows[-1]["status"] if rows and rows[-1]["status"] in FINISHED else None


# A column added later whose value older files imply: every run before the dataset registry
# trained on Fashion-MNIST, the only dataset there was.
OLDER_DEFAULTS = {"dataset": "fashion_mnist"}


def upgrade(table: pa.Table, path: Path) -> pa.Table:
    """``table`` in the current schema. A file of an earlier schema version lacks the columns
    added since: they are filled with nulls. A column this version does not know, or one of
    another type, means the file is not ours (or is damaged): CorruptFile."""
    schema = table.schema.remove_metadata()
    if schema == EPOCHS_SCHEMA:
        return table
    unknown = [f.name for f in schema if EPOCHS_SCHEMA.get_field_index(f.name) < 0]
    retyped = [f.name for f in schema if f.name not in unknown and EPOCHS_SCHEMA.field(f.name).type != f.type]
    if unknown or retyped or "schema_version" not in schema.names:
        raise CorruptFile(f"{path} (columns {unknown or retyped or ['schema_version']} do not match schema_version "
                          f"{SCHEMA_VERSION} or any earlier one)")
    columns = [
        table.column(f.name) if f.name in schema.names
        else pa.array([OLDER_DEFAULTS[f.name]] * len(table), f.type) if f.name in OLDER_DEFAULTS
        else pa.nulls(len(table), f.type)
        for f in EPOCHS_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=EPOCHS_SCHEMA)


def git_sha() -> str:
    """The project's commit, with '+dirty' when the tree has changes; 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


@contextlib.contextmanager
def claim_run(results_dir: Path, name: str) -> Iterator[bool]:
    """Hold an exclusive lock on one run while it trains; yields False if another process holds it.

    The lock is ``flock`` on a hidden file beside the run's directory (not inside it: a rerun moves
    the directory). The kernel drops it when its process dies, even by SIGKILL, so a killed run
    never leaves a stale lock. The file stays; deleting it would let two processes lock two files.
    """
    with open(results_dir / f".{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_writable(results_dir: Path) -> None:
    """Fail before training, not after, when results cannot be written."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise HarnessError(
            f"results_dir={str(results_dir)!r} is not writable ({exc.strerror}); choose another with results_dir=PATH"
        ) from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a hidden temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file owner-only; results are shared (a cluster, a team): give it
        # the mode a plain open() would, as the umask says.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_epochs(run_dir: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=EPOCHS_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(run_dir / EPOCHS_FILE, sink.getvalue().to_pybytes())


def write_config(run_dir: Path, yaml_text: str) -> None:
    atomic_write_bytes(run_dir / CONFIG_FILE, yaml_text.encode())


def set_aside(run_dir: Path, reason: str) -> Path:
    """Move a run directory to ``<results_dir>/_<reason>/<name>.<time>`` (kept, never deleted)."""
    target = run_dir.parent / f"_{reason}" / f"{run_dir.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    target.parent.mkdir(exist_ok=True)
    shutil.move(str(run_dir), str(target))
    # Kept aside, it must not be read by `read_parquet('results/**/*.parquet')` any more.
    for table in target.glob("*.parquet"):
        table.rename(table.with_name(f"{table.name}.{reason}"))
    return target


def write_failure(run_dir: Path, message: str, details: str) -> None:
    """Record that a run raised: the message on every row it has written (status ``failed``), or in
    ``_failed.txt`` when it has written none. Rows already written keep every number they hold."""
    rows = read_epochs(run_dir)
    if rows:
        for row in rows:
            row["status"], row["error"] = "failed", message
        write_epochs(run_dir, rows)
    atomic_write_bytes(run_dir / FAILED_FILE, f"{message}\n\n{details}".encode())


def failure_of(run_dir: Path) -> str | None:
    """The one-line error of a run whose last attempt failed, None otherwise."""
    path = run_dir / FAILED_FILE
    if not path.exists():
        return None
    return path.read_text(errors="replace").splitlines()[0] if path.stat().st_size else "failed"
