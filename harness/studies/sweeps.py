"""Running a study's sweeps: each an ordinary ``python -m harness -m ...`` in its own process, so finished
runs are skipped and a killed one resumes exactly as for any sweep; a sweep whose runs are all finished
is skipped without starting a process (a study of dozens of sweeps must rerun in seconds).
"""

from __future__ import annotations

import subprocess
import sys


def run_sweep(args: list[str], dry_run: bool, finished: int | None = None) -> int:
    """One sweep: ``python -m harness -m ...`` in its own process (Hydra's launcher and the
    frameworks start fresh for every sweep), or for ``plan`` its ``python -m harness plan``, here:
    it trains nothing and imports no framework, and 69 sweeps in one process take a fifth of the
    time of 69 processes that each start Python and compose again. ``finished`` is what
    ``finished_runs(args)`` returned, when the caller checked it already (``finished_counts``)."""
    command = [sys.executable, "-m", "harness", *(["plan"] if dry_run else []), *args]
    print("$ python -m harness " + " ".join(command[3:]), flush=True)
    if not dry_run:
        finished = finished_runs(args) if finished is None else finished
        if finished:  # nothing to train: no process, no Hydra, no launcher for it
            print(f"harness: sweep done: {finished} {'run' if finished == 1 else 'runs'}, every one finished before: "
                  f"skipped", flush=True)
            return 0
        return subprocess.run(command).returncode
    from harness.commands import dry_run as plan

    try:
        return plan.main(args, cached=True)
    except SystemExit as failed:  # a bad sweep: its one-line error is printed; the next sweep goes on
        return failed.code if isinstance(failed.code, int) else 1


def finished_runs(args: list[str]) -> int:
    """The number of distinct runs in the sweep when every one of them has finished (its rows say
    complete or diverged) and none asks for ``rerun=true``; else 0, and the sweep's own process
    trains what is left (or says what is wrong with the command line)."""
    from harness.errors import HarnessError
    from harness.identity import folder_of
    from harness.preflight import preflight
    from harness.results import finished_status

    try:
        runs = preflight(args, cached=True)
    except HarnessError:
        return 0
    folders = {folder_of(cfg) for cfg in runs}
    if any(cfg.rerun for cfg in runs) or not all(finished_status(folder) for folder in folders):
        return 0
    return len(folders)


def finished_counts(sweeps: list[list[str]], jobs: int) -> list[int]:
    """``finished_runs`` of every sweep, ``jobs`` at a time: a check composes its sweep with Hydra
    (about half a second), and the whole study is 69 sweeps, which ``make guideline`` must skip
    in well under a minute. A sweep found unfinished is trained later by its own process, which
    skips whatever finished in between, so checking them all first changes nothing it trains."""
    if jobs < 2 or len(sweeps) < 2:
        return [finished_runs(sweep) for sweep in sweeps]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported harness and Hydra instead of importing them again
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(finished_runs, sweeps))


def run_phase(sweeps: list[list[str]], dry_run: bool, jobs: int) -> int:
    """The phase's sweeps in order; the number that failed."""
    finished = [None] * len(sweeps) if dry_run else finished_counts(sweeps, jobs)
    return sum(run_sweep(sweep, dry_run, done) != 0 for sweep, done in zip(sweeps, finished))
