"""A small results directory with known numbers, written with the real writer (harness.results).

Clean protocol, frameworks torch and tf, schedules constant, sqrt, cosine, warmup, seeds 0-2,
5 epochs of 10 updates each:

- final test accuracy per seed (FINAL below); each run's test accuracy after epoch e is
  ``final - OFFSETS[e]``, its train accuracy ``test + 0.03`` (a gap of exactly 3 pp);
- tf warmup is missing; torch warmup has a fourth run (seed 3) that diverged in its second epoch;
  tf cosine has a fourth run (seed 3) still running after two epochs;
- train_time_s is 5.0 in the first epoch (compilation) and 1.0 after it; eval_time_s is 0.25.

d2l protocol, torch only, one seed, the chapter's budget (30 epochs, 60,000/10,000 images, batch
256): constant ends at exactly the published 0.877, cosine at 0.80 (the chapter published 0.904).
The clean runs' budget (5 epochs on 2,560 images) is not the chapter's: no published figure applies.
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


D2L_EPOCHS = 30


def _rows(protocol: str, framework: str, scheduler: str, seed: int, test_accs: list[float], status: str,
          train_gap: float = 0.03) -> list[dict]:
    run_id = hashlib.sha256(f"{protocol}-{framework}-{scheduler}-{seed}".encode()).hexdigest()[:16]
    d2l = protocol == "d2l"
    rows = []
    for epoch, acc in enumerate(test_accs):
        diverged_here = status == "diverged" and epoch == len(test_accs) - 1
        loss = float("nan") if diverged_here else 1.0 - acc
        rows.append({
            "run_id": run_id, "framework": framework, "framework_version": "0.0-synthetic", "device": "cpu",
            "tf32": False, "protocol": protocol, "model": "lenet", "scheduler": scheduler, "unit": "epoch",
            "optimizer": "sgd", "base_lr": 0.3, "seed": seed, "batch_size": 256,
            "epochs": D2L_EPOCHS if d2l else EPOCHS, "train_size": 60000 if d2l else 2560,
            "test_size": 10000 if d2l else 1000, "epoch": epoch, "step": (epoch + 1) * STEPS_PER_EPOCH,
            "lr": _lrs(scheduler, min(epoch, EPOCHS - 1))[0], "step_lrs": _lrs(scheduler, min(epoch, EPOCHS - 1)),
            "train_loss": loss, "train_acc": acc + train_gap, "test_loss": loss, "test_acc": acc,
            "train_time_s": 5.0 if epoch == 0 else 1.0, "eval_time_s": 0.25, "status": status,
            "git_sha": "abc123", "schema_version": SCHEMA_VERSION,
        })
    return rows


def write_run(results_dir: Path, protocol, framework, scheduler, seed, test_accs, status, train_gap=0.03) -> None:
    """One run; its train accuracy is its test accuracy + ``train_gap`` in every epoch."""
    rows = _rows(protocol, framework, scheduler, seed, list(test_accs), status, train_gap)
    write_epochs(results_dir / f"{protocol}-{framework}-{scheduler}-s{seed}", rows)


def build(results_dir: Path) -> Path:
    for (protocol, framework, scheduler), finals in FINAL.items():
        for seed, final in enumerate(finals):
            offsets = OFFSETS if protocol == "clean" else (OFFSETS[0],) * (D2L_EPOCHS - len(OFFSETS)) + OFFSETS
            write_run(results_dir, protocol, framework, scheduler, seed, [final - o for o in offsets], "complete")
    write_run(results_dir, "clean", "torch", "warmup", 3, [0.5, 0.1], "diverged")
    write_run(results_dir, "clean", "tf", "cosine", 3, [0.8, 0.85], "running")
    return results_dir


# --------------------------------------------------------------------------------- the zoo
# Sixteen schedules × three frameworks × three seeds, 8 epochs of 6 updates, written the way runs
# with the `variant`, `schedule_params`, `optimizer_params` and `model_hash` columns are; plus two
# variants of cosine (T=8 and T=20: the second's horizon is past the run) and Adam runs of
# constant and cosine, so the report must label by variant and optimizer.

ZOO_EPOCHS = 8
ZOO_STEPS = 6
ZOO_SCHEDULES = {  # name -> (final test accuracy of seed 0 in torch, lr of epoch e as a function)
    "constant": (0.880, lambda e: 0.3),
    "sqrt": (0.874, lambda e: 0.1 / math.sqrt(e + 1)),
    "factor": (0.100, lambda e: max(0.01, 2.0 * 0.9 ** e)),
    "multifactor": (0.871, lambda e: 0.5 * 0.5 ** (e > 4)),
    "cosine": (0.897, lambda e: 0.01 + 0.29 * (1 + math.cos(math.pi * min(e, 8) / 8)) / 2),
    "warmup": (0.899, lambda e: 0.3 * e / 2 if e < 2 else 0.01 + 0.29 * (1 + math.cos(math.pi * (e - 2) / 6)) / 2),
    "step": (0.886, lambda e: 0.3 * 0.5 ** (e // 3)),
    "exponential": (0.883, lambda e: 0.3 * 0.8 ** e),
    "inverse_time": (0.878, lambda e: 0.3 / (1 + 0.5 * e)),
    "polynomial": (0.892, lambda e: (0.3 - 0.001) * (1 - e / 8) ** 2 + 0.001),
    "linear_decay": (0.894, lambda e: 0.3 * (1 - e / 8)),
    "cosine_restarts": (0.889, lambda e: 0.01 + 0.29 * (1 + math.cos(math.pi * (e % 4) / 4)) / 2),
    "warmup_linear": (0.893, lambda e: 0.3 * (e + 1) / 2 if e < 2 else 0.3 * (8 - e) / 6),
    "onecycle": (0.902, lambda e: 0.03 + 0.27 * math.sin(math.pi * e / 8)),
    "cyclic": (0.868, lambda e: 0.05 + 0.25 * abs(((e / 2) % 2) - 1)),
    "wsd": (0.896, lambda e: 0.3 if e < 6 else 0.3 * (8 - e) / 2),
}
ZOO_FRAMEWORK_OFFSET = {"torch": 0.0, "tf": -0.003, "mxnet": 0.002}
ZOO_SEED_OFFSET = (0.0, 0.004, -0.003)


def _zoo_rows(framework, name, seed, final, lr_of, variant, schedule_params, optimizer="sgd",
              optimizer_params='{"momentum": 0.0}', epochs=ZOO_EPOCHS, status="complete") -> list[dict]:
    run_id = hashlib.sha256(f"zoo-{framework}-{variant}-{optimizer}-{seed}".encode()).hexdigest()[:16]
    rows = []
    for epoch in range(epochs):
        acc = final - 0.4 * (1 - (epoch + 1) / epochs) ** 2 if final > 0.2 else final
        lr = float(lr_of(epoch))
        rows.append({
            "run_id": run_id, "framework": framework, "framework_version": "0.0-synthetic", "device": "cpu",
            "tf32": False, "protocol": "clean", "model": "lenet", "scheduler": name, "unit": "epoch",
            "optimizer": optimizer, "base_lr": float(lr_of(0)) or 0.3, "seed": seed, "batch_size": 256,
            "epochs": epochs, "train_size": 1536, "test_size": 500, "epoch": epoch,
            "step": (epoch + 1) * ZOO_STEPS, "lr": lr, "step_lrs": [lr] * ZOO_STEPS,
            "train_loss": 2.4 * (1 - acc) + 0.05, "train_acc": min(1.0, acc + 0.02), "test_loss": 2.4 * (1 - acc),
            "test_acc": acc, "train_time_s": 1.0, "eval_time_s": 0.2, "status": status, "git_sha": "zoo",
            "schema_version": SCHEMA_VERSION, "variant": variant, "schedule_params": schedule_params,
            "optimizer_params": optimizer_params, "model_hash": "5eed1e7",
        })
    return rows


def write_new_style_run(results_dir: Path, rows: list[dict]) -> None:
    """A run with the describing columns, as the runner writes them once they exist."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.results import EPOCHS_SCHEMA

    schema = EPOCHS_SCHEMA
    for name in ("variant", "schedule_params", "optimizer_params", "model_hash"):
        if name not in schema.names:
            schema = schema.append(pa.field(name, pa.string()))
    r = rows[0]
    folder = results_dir / f"{r['framework']}-{r['scheduler']}-s{r['seed']}-{r['run_id']}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "epochs.parquet")


def build_zoo(results_dir: Path, frameworks=("torch", "tf", "mxnet"), seeds=(0, 1, 2)) -> Path:
    import json

    for fw in frameworks:
        for i, (name, (final, lr_of)) in enumerate(ZOO_SCHEDULES.items()):
            for seed in seeds:
                noise = 0.001 * ((i * 7 + seed * 3) % 5 - 2)  # seeds differ from schedule to schedule
                acc = final if final < 0.2 else final + ZOO_FRAMEWORK_OFFSET[fw] + ZOO_SEED_OFFSET[seed] + noise
                if name == "cyclic" and fw == "tf" and seed == 1:
                    acc = 0.1  # one seed that never learned: a bimodal cell
                params = json.dumps({"kind": name, "total_steps": 8} if name == "cosine" else {"kind": name})
                variant = "cosine(T=8, final=0.01)" if name == "cosine" else name
                write_new_style_run(results_dir, _zoo_rows(fw, name, seed, acc, lr_of, variant, params))
            if fw == "torch":
                for seed in seeds:  # a second cosine variant, horizon past the run's 8 epochs
                    lr_of = ZOO_SCHEDULES["cosine"][1]
                    write_new_style_run(results_dir, _zoo_rows(
                        fw, "cosine", seed, 0.885 + ZOO_SEED_OFFSET[seed],
                        lambda e: 0.01 + 0.29 * (1 + math.cos(math.pi * e / 20)) / 2,
                        "cosine(T=20, final=0.01)", json.dumps({"kind": "cosine", "total_steps": 20})))
                    # Adam, constant and cosine
                    for name in ("constant", "cosine"):
                        final, lr_of = ZOO_SCHEDULES[name]
                        variant = "cosine(T=8, final=0.01)" if name == "cosine" else name
                        params = json.dumps({"kind": name, "total_steps": 8} if name == "cosine" else {"kind": name})
                        write_new_style_run(results_dir, _zoo_rows(
                            fw, name, seed, final + 0.004 + ZOO_SEED_OFFSET[seed], lr_of, variant, params,
                            optimizer="adam", optimizer_params='{"beta1": 0.9, "beta2": 0.999}'))
    return results_dir
