"""A small results directory with known numbers, written with the real writer (harness.results).

Clean protocol, frameworks torch and tf, schedules constant, sqrt, cosine, warmup, seeds 0-2,
5 epochs of 10 updates each:

- final test accuracy per seed (FINAL below); each run's test accuracy after epoch e is
  ``final - OFFSETS[e]``, its train accuracy ``test + 0.03`` (a gap of exactly 3 pp);
- tf warmup is missing; torch warmup has a fourth run (seed 3) that diverged in its second epoch;
  tf cosine has a fourth run (seed 3) still running after two epochs;
- train_time_s is 5.0 in the first epoch (compilation) and 1.0 after it; eval_time_s is 0.25.

d2l protocol, torch only, one seed: constant ends at exactly the published 0.877, cosine at 0.80
(the chapter published 0.904).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from harness.results import SCHEMA_VERSION, write_epochs

EPOCHS = 5
STEPS_PER_EPOCH = 10
OFFSETS = (0.083, 0.043, 0.023, 0.007, 0.0)
FINAL = {
    ("clean", "torch", "constant"): (0.89, 0.90, 0.91),
    ("clean", "torch", "sqrt"): (0.88, 0.885, 0.895),
    ("clean", "torch", "cosine"): (0.905, 0.915, 0.92),
    ("clean", "torch", "warmup"): (0.92, 0.905, 0.925),
    ("clean", "tf", "constant"): (0.875, 0.885, 0.89),
    ("clean", "tf", "sqrt"): (0.89, 0.895, 0.90),
    ("clean", "tf", "cosine"): (0.895, 0.90, 0.905),
    ("d2l", "torch", "constant"): (0.877,),
    ("d2l", "torch", "cosine"): (0.80,),
}


def _lrs(scheduler: str, epoch: int) -> list[float]:
    if scheduler == "constant":
        return [0.3] * STEPS_PER_EPOCH
    if scheduler == "sqrt":
        return [0.1 / math.sqrt(epoch + 1)] * STEPS_PER_EPOCH
    if scheduler == "cosine":
        return [0.01 + 0.29 * (1 + math.cos(math.pi * epoch / EPOCHS)) / 2] * STEPS_PER_EPOCH
    total = EPOCHS * STEPS_PER_EPOCH  # warmup: linear over the first 10 updates, then cosine
    out = []
    for i in range(STEPS_PER_EPOCH):
        t = epoch * STEPS_PER_EPOCH + i
        out.append(0.3 * t / 10 if t < 10 else 0.01 + 0.29 * (1 + math.cos(math.pi * (t - 10) / (total - 10))) / 2)
    return out


def _rows(protocol: str, framework: str, scheduler: str, seed: int, test_accs: list[float], status: str) -> list[dict]:
    run_id = hashlib.sha256(f"{protocol}-{framework}-{scheduler}-{seed}".encode()).hexdigest()[:16]
    rows = []
    for epoch, acc in enumerate(test_accs):
        diverged_here = status == "diverged" and epoch == len(test_accs) - 1
        loss = float("nan") if diverged_here else 1.0 - acc
        rows.append({
            "run_id": run_id, "framework": framework, "framework_version": "0.0-synthetic", "device": "cpu",
            "tf32": False, "protocol": protocol, "model": "lenet", "scheduler": scheduler, "unit": "epoch",
            "optimizer": "sgd", "base_lr": 0.3, "seed": seed, "batch_size": 256, "epochs": EPOCHS,
            "train_size": 2560, "test_size": 1000, "epoch": epoch, "step": (epoch + 1) * STEPS_PER_EPOCH,
            "lr": _lrs(scheduler, epoch)[0], "step_lrs": _lrs(scheduler, epoch),
            "train_loss": loss, "train_acc": acc + 0.03, "test_loss": loss, "test_acc": acc,
            "train_time_s": 5.0 if epoch == 0 else 1.0, "eval_time_s": 0.25, "status": status,
            "git_sha": "abc123", "schema_version": SCHEMA_VERSION,
        })
    return rows


def write_run(results_dir: Path, protocol, framework, scheduler, seed, test_accs, status) -> None:
    rows = _rows(protocol, framework, scheduler, seed, list(test_accs), status)
    write_epochs(results_dir / f"{protocol}-{framework}-{scheduler}-s{seed}", rows)


def build(results_dir: Path) -> Path:
    for (protocol, framework, scheduler), finals in FINAL.items():
        for seed, final in enumerate(finals):
            write_run(results_dir, protocol, framework, scheduler, seed, [final - o for o in OFFSETS], "complete")
    write_run(results_dir, "clean", "torch", "warmup", 3, [0.5, 0.1], "diverged")
    write_run(results_dir, "clean", "tf", "cosine", 3, [0.8, 0.85], "running")
    return results_dir
