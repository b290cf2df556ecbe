"""The range test's recommendation against the best rate of a validation grid: the table in
docs/finding_the_rate.md ("The recommendation against a grid").

    python -m benchmarks.range_test_vs_grid [GRID_DIR]    # default /work/scratch/rangegrid

GRID_DIR holds the grid's runs (PyTorch, constant rate, full data less a 10,000-image validation
split; the sweep commands are in the doc). For each of SGD, SGD with momentum 0.9 and Adam at
batch 256 and 1024 this runs the range test with find-lr's defaults into GRID_DIR/_find_lr/ (a
test already there with the same settings is read back and judged by today's rules instead),
takes the grid's best base rate by mean final validation accuracy over the seeds there, and
prints one Markdown row per setting.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

from harness import lr_finder
from harness.commands import find_lr

SETTINGS = [("SGD", ["optimizer=sgd"]), ("SGD, momentum 0.9", ["optimizer=sgd", "optimizer.momentum=0.9"]),
            ("Adam", ["optimizer=adam"])]
BATCHES = (256, 1024)
COMMON = ["framework=torch", "data.val_size=10000", "threads=1", "progress=false"]
STEP = math.sqrt(10)  # one step of a half-decade grid


def grid_table(grid: Path) -> pd.DataFrame:
    """One row per (optimizer, momentum, batch, rate): mean final val_acc over the finished seeds."""
    frame = pd.read_parquet(grid)
    # A run that diverged stops early: it has no final epoch and cannot be the best.
    last = frame[frame["epoch"] == frame["epochs"] - 1]
    return (last.groupby(["optimizer", "momentum", "batch_size", "base_lr"])["val_acc"]
            .agg(["mean", "count", "min"]).reset_index())


def range_test(cfg, grid: Path) -> find_lr.RangeTest:
    """find-lr's defaults on this run's settings: read back when already in grid/_find_lr/."""
    want = {"optimizer": cfg.optimizer.name, "momentum": float(cfg.optimizer.get("momentum", 0.0) or 0.0),
            "batch_size": cfg.batch_size, "start_lr": lr_finder.TEST_START_LR, "end_lr": lr_finder.END_LR}
    for folder in sorted((grid / find_lr.FOLDER).glob(f"torch-{cfg.optimizer.name}-b{cfg.batch_size}-*")):
        try:
            test = find_lr.read(folder)
        except Exception:  # a folder a killed test left half-written: run it again below
            continue
        first = test.rows[0]
        per_epoch = math.ceil(first["train_size"] / first["batch_size"])
        if all(first.get(k) == v for k, v in want.items()) and \
                first["num_updates"] == round(lr_finder.TEST_EPOCHS * per_epoch):
            return test
    test = find_lr.run_range_test(cfg, lr_finder.TEST_START_LR, lr_finder.END_LR, None, lr_finder.TEST_EPOCHS)
    find_lr.write(test)
    return test


def verdict(recommended: float, best: float) -> str:
    ratio = recommended / best
    if ratio > STEP * 1.01:
        return "too high"
    if ratio * STEP * 1.01 < 1:
        return "more than one step below"
    return "within one step" + (", below" if ratio < 0.99 else ", above" if ratio > 1.01 else "")


def main(argv: list[str]) -> int:
    from harness.cli import compose_run

    grid = Path(argv[0] if argv else "/work/scratch/rangegrid")
    table = grid_table(grid)
    print("| optimizer | batch | recommended (rule) | edge | died at | best on the grid (val acc, seeds) | "
          "next rates (val acc) | best / recommended | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, overrides in SETTINGS:
        for batch in BATCHES:
            cfg = compose_run([*COMMON, *overrides, f"batch_size={batch}", f"results_dir={grid}"])
            momentum = float(cfg.optimizer.get("momentum", 0.0) or 0.0)
            rows = table[(table["optimizer"] == cfg.optimizer.name) & (table["batch_size"] == batch)]
            if cfg.optimizer.name == "sgd":  # Adam's rows carry beta1 in `momentum`
                rows = rows[rows["momentum"].fillna(0.0) == momentum]
            rows = rows.sort_values("base_lr").reset_index(drop=True)
            if rows.empty:
                print(f"| {label} | {batch} | (no grid runs in {grid}) |")
                continue
            at = int(rows["mean"].idxmax())
            best = rows.loc[at]
            near = ", ".join(f"{r.base_lr:g}: {r.mean:.3f}" for r in rows.iloc[max(0, at - 1): at + 2].itertuples()
                             if r.Index != at)
            rec = range_test(cfg, grid).recommendation
            died = f"{rec.collapse.lr:.3g}" if rec.collapse else "-"
            if rec.lr is None:
                print(f"| {label} | {batch} | none | - | {died} | {best.base_lr:g} ({best['mean']:.3f}, {best['count']}) | "
                      f"{near} | - | no suggestion |")
                continue
            print(f"| {label} | {batch} | {rec.lr:.3g} ({rec.rule}) | {rec.edge:.3g} | {died} | "
                  f"{best.base_lr:g} ({best['mean']:.3f}, {best['count']}) | {near} | "
                  f"{best.base_lr / rec.lr:.2f} | {verdict(rec.lr, best.base_lr)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
