"""``python -m harness status [RESULTS_DIR]``: where a study stands, from its files alone.

One line per run found under RESULTS_DIR (default ``results``): framework, protocol,
scheduler, optimizer, the settings that differ between the runs listed (``harness.run_labels``:
rate, warmup, batch size, data size, ...; from each run's ``_config.yaml``), seed, status, epochs
done / planned, the last test accuracy and when its parquet was last written; then the totals.
A run stopped before its first epoch ended has a ``_config.yaml`` and no rows: ``interrupted``,
0 of its epochs done. A run whose lock is held is being trained right
now (``training``); one whose rows say ``running`` with nobody holding its lock was interrupted
and continues when its command runs again (``interrupted``).

A run whose ``epochs.parquet`` cannot be read is shown as ``unreadable``, its identity taken from
its ``_config.yaml`` (or its folder's name), with the reason below the table, and the command
exits with 1 (0 when every run could be read, 2 when RESULTS_DIR does not exist).

It reads parquet (a few columns) and lock files, writes nothing and imports no framework.
Locks are read from ``/proc/locks`` (Linux), which shows the kernel's table without taking
the lock: taking it, even for a microsecond, could make a run that starts at that instant
believe another process has it and skip itself. ``/proc/locks`` lists the locks of processes
on this machine only, so on a cluster a run training on another node shows as
``interrupted``, its recent "last written" time telling it apart. Where ``/proc/locks`` does
not exist (macOS), a shared lock is tried and released at once.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from pathlib import Path

from harness.results import CONFIG_FILE, EPOCHS_FILE, FAILED_FILE, FINISHED

COLUMNS = ["framework", "protocol", "scheduler", "optimizer", "seed", "epoch", "epochs", "test_acc", "status"]


def held_locks() -> set[tuple[int, int, int]] | None:
    """(major, minor, inode) of every file with a flock held on this machine; None without /proc/locks."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    held = set()
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2154592 0 EOF" ("->" marks a waiter: skip those)
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[2] != "->":
            try:
                major, minor, inode = fields[5].split(":")
                held.add((int(major, 16), int(minor, 16), int(inode)))
            except ValueError:
                continue
    return held


def lock_is_held(lock: Path, held: set | None) -> bool:
    try:
        stat = os.stat(lock)
    except OSError:
        return False
    if held is not None:
        return (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino) in held
    with open(lock, "rb") as handle:  # no /proc/locks: probe (see the module docstring)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _visible(path: Path, root: Path) -> bool:
    """Not set aside (_superseded/, _corrupt/) and not hidden."""
    return not any(part.startswith(("_", ".")) for part in path.relative_to(root).parts[:-1])


def find_runs(results_dir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    held = held_locks()
    runs = []
    seen = set()
    for table_path in sorted(results_dir.rglob(EPOCHS_FILE)):
        if not _visible(table_path, results_dir):
            continue
        run_dir = table_path.parent
        seen.add(run_dir)
        run = {"run_dir": run_dir, "written": table_path.stat().st_mtime, "config": _config_of(run_dir)}
        try:
            table = pq.ParquetFile(table_path).read(columns=COLUMNS).to_pylist()  # read_table would load pandas
        except Exception as exc:  # an unreadable file is shown, not fatal: status is read-only
            table = []
            run.update(_identity_of(run_dir), status="unreadable", error=_first_line(exc))
        if table:
            last = table[-1]
            run.update({key: last[key] for key in COLUMNS if key not in ("epoch",)})
            run["done"] = len(table)
        run["locked"] = lock_is_held(run_dir.parent / f".{run_dir.name}.lock", held)
        runs.append(run)
    # A run that holds its lock but has not finished its first epoch has no parquet yet.
    for lock in sorted(results_dir.rglob(".*.lock")):
        run_dir = lock.parent / lock.name[1:-len(".lock")]
        if run_dir in seen or not _visible(lock, results_dir) or not lock_is_held(lock, held):
            continue
        seen.add(run_dir)
        runs.append({"run_dir": run_dir, "written": None, "locked": True, "done": 0, **_identity_of(run_dir),
                     "config": _config_of(run_dir), "status": "running"})
    # A run that raised (status=failed): _failed.txt holds its error, with or without rows.
    for failed in sorted(results_dir.rglob(FAILED_FILE)):
        run_dir = failed.parent
        if not _visible(failed, results_dir):
            continue
        error = (failed.read_text(errors="replace").splitlines() or ["failed"])[0]
        known = next((run for run in runs if run["run_dir"] == run_dir), None)
        if known is None:
            framework, scheduler, seed = _from_name(run_dir.name)
            known = {"run_dir": run_dir, "written": failed.stat().st_mtime, "done": 0, "framework": framework,
                     "scheduler": scheduler, "seed": seed,
                     "locked": lock_is_held(run_dir.parent / f".{run_dir.name}.lock", held)}
            runs.append(known)
        if not known["locked"]:  # a retry in progress is "training"
            known.update(status="failed", error=error)
        seen.add(run_dir)
    # A run stopped before its first epoch ended (Ctrl-C, a kill): its _config.yaml, no rows.
    for config in sorted(results_dir.rglob(CONFIG_FILE)):
        run_dir = config.parent
        if run_dir in seen or not _visible(config, results_dir) or run_dir == results_dir:
            continue
        runs.append({"run_dir": run_dir, "written": config.stat().st_mtime, "done": 0, **_identity_of(run_dir),
                     "config": _config_of(run_dir), "status": "running",
                     "locked": lock_is_held(run_dir.parent / f".{run_dir.name}.lock", held)})
    for run in runs:
        run["state"] = _state(run)
    return runs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _config_of(run_dir: Path) -> dict | None:
    """The run's ``_config.yaml`` as a dict (written before its first epoch), None when it is
    missing or cannot be read."""
    try:
        import yaml

        cfg = yaml.load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"),
                        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception:  # noqa: BLE001 - missing or damaged: the caller falls back on the folder name
        return None
    return cfg if isinstance(cfg, dict) else None


def _identity_of(run_dir: Path) -> dict:
    """Who a run without readable rows is, from its ``_config.yaml`` where that can be read, else
    from its folder's name (framework, scheduler and seed only)."""
    framework, scheduler, seed = _from_name(run_dir.name)
    found = {"framework": framework, "scheduler": scheduler, "seed": seed}
    cfg = _config_of(run_dir)
    if cfg is None:
        return found
    for column, path in (("framework", "framework.name"), ("scheduler", "scheduler.name"), ("optimizer", "optimizer.name"),
                         ("protocol", "protocol"), ("seed", "seed"), ("epochs", "epochs")):
        node = cfg
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            found[column] = node
    return found


def _from_name(name: str) -> tuple[str, str, str]:
    """<framework>-<scheduler>-s<seed>-<run_id> -> (framework, scheduler, seed)."""
    parts = name.split("-")
    if len(parts) >= 4 and parts[-2].startswith("s"):
        return parts[0], "-".join(parts[1:-2]), parts[-2][1:]
    return "?", name, "?"


def _state(run: dict) -> str:
    status = run.get("status", "unreadable")
    if status in FINISHED or status in ("unreadable", "failed"):
        return status
    return "training" if run["locked"] else "interrupted"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(seconds, 0):.0f} s ago"


def _settings(runs: list[dict]) -> list[str]:
    """Each run's settings that differ from the other runs of its framework, protocol, schedule
    and optimizer (``lr=0.01, warmup=470``); '?' for a run without a readable ``_config.yaml``."""
    from harness.progress import differing_within, settings_of

    groups = [tuple(str(run.get(k)) for k in ("framework", "protocol", "scheduler", "optimizer")) for run in runs]
    labels = differing_within([settings_of(run.get("config") or {}) for run in runs], groups,
                              leave_out=("optimizer", "protocol"))
    return [label if run.get("config") else "?" for run, label in zip(runs, labels)]


def render(runs: list[dict], results_dir: Path, now: float) -> str:
    folders = {run["run_dir"].parent for run in runs}
    for run, label in zip(runs, _settings(runs)):
        run["settings"] = label
    shown_settings = any(run["settings"] not in ("", "?") for run in runs)
    header = ["framework", "protocol", "scheduler", "optimizer", *(["settings"] if shown_settings else []),
              "seed", "status", "epochs", "test_acc", "last written"]
    if len(folders) > 1:
        header.append("in")
    lines = []
    order = lambda r: (str(r.get("framework")), str(r.get("protocol")), str(r.get("scheduler")),
                       str(r.get("optimizer")), r["settings"], str(r.get("seed")), str(r["run_dir"]))
    for run in sorted(runs, key=order):
        planned = run.get("epochs")
        acc = run.get("test_acc")
        written = run["written"]
        cells = [
            str(run.get("framework", "?")), str(run.get("protocol") or "-"), str(run.get("scheduler", "?")),
            str(run.get("optimizer") or "-"), *([run["settings"] or "-"] if shown_settings else []),
            str(run.get("seed", "?")), run["state"],
            f"{run.get('done', 0)}/{planned if planned is not None else '?'}",
            f"{acc:.4f}" if isinstance(acc, float) else "-",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(written)) + f" ({_age(now - written)})" if written else "-",
        ]
        if len(folders) > 1:
            cells.append(str(run["run_dir"].parent.relative_to(results_dir)) or ".")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    numeric = {"seed", "epochs", "test_acc"}
    fmt = lambda row: "  ".join(c.rjust(w) if h in numeric else c.ljust(w) for c, w, h in zip(row, widths, header)).rstrip()
    text = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)]
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["state"]] = counts.get(run["state"], 0) + 1
    done = sum(run.get("done", 0) for run in runs)
    planned = sum(run.get("epochs") or 0 for run in runs)
    text.append("")
    text.append(f"{len(runs)} {'run' if len(runs) == 1 else 'runs'}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
                + f"; {done} of {planned} epochs done")
    for run in sorted(runs, key=order):
        if run["state"] == "failed":
            text.append(f"failed: {run['run_dir'].name}: {run['error']}; its command retries it")
    if counts.get("interrupted"):
        text.append("interrupted: no process holds its lock; running its command again continues it from "
                    "its last epoch")
    for run in sorted((r for r in runs if r["state"] == "unreadable"), key=lambda r: str(r["run_dir"])):
        text.append(f"unreadable: {run['run_dir'].relative_to(results_dir)}/{EPOCHS_FILE}: {run['error']}; "
                    f"running its command again moves it to {results_dir}/_corrupt/ and trains the run again")
    return "\n".join(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness status",
        description="Every run under RESULTS_DIR: status, epochs done, last test accuracy, and whether "
                    "a process is training it now. Reads parquet and locks only.",
        epilog="exit status: 0 every run's results could be read (or there are none); 1 at least one "
               "run's epochs.parquet is unreadable (named below the table, with the reason); 2 RESULTS_DIR "
               "does not exist.")
    parser.add_argument("results_dir", nargs="?", default="results", metavar="RESULTS_DIR",
                        help="where the runs are (default: results)")
    args = parser.parse_args(argv)
    results_dir = Path(args.results_dir)
    if not results_dir.is_dir():
        print(f"harness: error: results directory {str(results_dir)!r} does not exist; "
              f"give the results_dir= of your runs", file=sys.stderr)
        return 2
    runs = find_runs(results_dir)
    if not runs:
        print(f"harness: no runs in {results_dir}/")
        return 0
    print(render(runs, results_dir, time.time()))
    return 1 if any(run["state"] == "unreadable" for run in runs) else 0
