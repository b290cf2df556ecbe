"""What resuming a killed run costs, against a fresh start of the same run.

    python -m benchmarks.resume_cost [--framework torch] [--epochs 4] [--train-size 30000] [--threads 1]

Trains the run once uninterrupted, then again with SIGKILL once the checkpoint after its second
epoch exists, and times the command that resumes it. Both commands pay the same start-up
(imports, data); a resume adds only the checkpoint read. Also times one checkpoint write and read.
A benchmark, not a test: read it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import checkpoint


def harness_command(args: argparse.Namespace, results_dir: Path) -> list[str]:
    return [sys.executable, "-m", "harness", f"framework={args.framework}", f"epochs={args.epochs}",
            f"data.train_size={args.train_size}", f"threads={args.threads}", "progress=false", f"results_dir={results_dir}"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def _checkpointed_epoch(run_dir: Path) -> int:
    try:
        return checkpoint.load(run_dir).epoch
    except (checkpoint.CorruptFile, AttributeError):  # being replaced right now
        return -1


def kill_after_epoch(command: list[str], results_dir: Path, epoch: int) -> None:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not any(_checkpointed_epoch(m.parent) >= epoch for m in results_dir.glob("*/_checkpoint.npz")):
        if process.poll() is not None:
            raise SystemExit("the run finished before it could be killed; raise --epochs")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def checkpoint_io_ms(run_dir: Path, repeats: int = 50) -> tuple[float, float]:
    state = {f"w{i}": np.random.default_rng(i).standard_normal(n, dtype=np.float32) for i, n in
             enumerate([150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10])}  # LeNet's 61,706 numbers
    started = time.perf_counter()
    for _ in range(repeats):
        checkpoint.save(run_dir, state, 1, 2, "benchmark")
    saved = time.perf_counter()
    for _ in range(repeats):
        checkpoint.load(run_dir)
    loaded = time.perf_counter()
    return (saved - started) / repeats * 1e3, (loaded - saved) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="torch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=30_000)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: the framework's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        fresh_dir, killed_dir = Path(scratch, "fresh"), Path(scratch, "killed")
        fresh = timed(harness_command(args, fresh_dir))
        kill_after_epoch(harness_command(args, killed_dir), killed_dir, epoch=1)
        resumed = timed(harness_command(args, killed_dir))
        left = args.epochs - 2
        write_ms, read_ms = checkpoint_io_ms(Path(scratch))
    per_epoch = (fresh - resumed) / (args.epochs - left)
    print(f"{args.framework}, {args.epochs} epochs on {args.train_size} images")
    print(f"  fresh start, all {args.epochs} epochs:       {fresh:6.1f} s")
    print(f"  resume after epoch 1, {left} epochs left:   {resumed:6.1f} s")
    print(f"  so: {per_epoch:.1f} s per epoch, start-up {resumed - left * per_epoch:.1f} s in both")
    print(f"  checkpoint write {write_ms:.1f} ms, read {read_ms:.1f} ms")


if __name__ == "__main__":
    main()
