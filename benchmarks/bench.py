"""Steady-state epoch time: the harness against an idiomatic d2l-style loop, per framework.

    make bench                       # every framework whose baseline module and package exist
    python -m benchmarks.bench --frameworks torch --epochs 4 --rounds 3

Both sides train the modern LeNet on the full real training set (60,000 images, batch 256)
and evaluate the 10,000 test images every epoch, in this one process, one after the other,
under the same framework settings.
The first epoch of each (graph building, compilation, allocator warm-up) is reported apart
and left out of the steady-state median. This is a benchmark, not a test: the machine is
noisy, so read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import tempfile
import time

import pandas as pd

from adapters import REGISTRY, load_adapter
from harness.cli import compose_run
from harness.data import load_fashion_mnist
from harness.runner import run
from harness.schedules import cosine
from harness.validate import validate

IMAGES = 60_000 + 10_000  # trained plus evaluated per epoch


def available_frameworks() -> list[str]:
    found = []
    for framework, (_, _, package, _) in REGISTRY.items():
        has_baseline = importlib.util.find_spec(f"benchmarks.baseline_{framework}") is not None
        if has_baseline and importlib.util.find_spec(package) is not None:
            found.append(framework)
    return found


def harness_epoch_seconds(framework: str, epochs: int, optimizer: str = "sgd") -> list[float]:
    from harness.optimizers import suggested_lr

    # Another optimizer runs at its own rate (experiments/optimizers.yaml's), so that it trains
    # instead of diverging; the d2l-style side stays plain SGD, the cost being compared.
    rate = [] if optimizer == "sgd" else [f"optimizer={optimizer}", f"scheduler.base_lr={suggested_lr(optimizer, 'base')}",
                                          f"scheduler.final_lr={suggested_lr(optimizer, 'final')}"]
    with tempfile.TemporaryDirectory() as results:
        cfg = compose_run([f"framework={framework}", f"epochs={epochs}", "progress=false", f"results_dir={results}", *rate])
        run(validate(cfg))
        df = pd.read_parquet(results)
    return (df.sort_values("epoch")["train_time_s"] + df.sort_values("epoch")["eval_time_s"]).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="*", default=None, help="default: every available one")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per side (the first is warm-up)")
    parser.add_argument("--rounds", type=int, default=1, help="harness/d2l pairs, alternating (the machine is noisy)")
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw", "adagrad", "rmsprop"],
                        help="the harness side's optimizer (the d2l-style side is always plain SGD): "
                             "--optimizer adam shows what an Adam update costs over SGD's")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds} must be at least 1")
    if args.epochs < 2:
        parser.error(f"--epochs={args.epochs} must be at least 2 (the first epoch is warm-up)")
    frameworks = args.frameworks or available_frameworks()
    data = load_fashion_mnist(download=False)
    lr_at = cosine(0.3, 0.01, 20)

    header = f"{'framework':<9} {'harness s/ep':>12} {'d2l-style s/ep':>14} {'ratio':>6} {'per round':>11} {'harness img/s':>13} {'d2l img/s':>10} {'1st epoch h/d2l':>16}"
    rows = [header, "-" * len(header)]
    for framework in frameworks:
        # The adapter first: settings it makes before importing its framework (TensorFlow's
        # oneDNN kernels) then hold for both sides, so the ratio compares loops, not settings.
        load_adapter(framework)
        baseline = importlib.import_module(f"benchmarks.baseline_{framework}")
        started = time.perf_counter()
        ours, theirs, ratios = [], [], []
        for _ in range(args.rounds):  # alternating sides, so that a slow spell hits both
            ours_round = harness_epoch_seconds(framework, args.epochs, args.optimizer)
            theirs_round = baseline.epoch_seconds(data, args.epochs, 256, lr_at, seed=0)
            ratios.append(statistics.median(ours_round[1:]) / statistics.median(theirs_round[1:]))
            ours.append(ours_round)
            theirs.append(theirs_round)
        ours_s = statistics.median(t for round_ in ours for t in round_[1:])
        theirs_s = statistics.median(t for round_ in theirs for t in round_[1:])
        rows.append(
            f"{framework:<9} {ours_s:>12.2f} {theirs_s:>14.2f} {ours_s / theirs_s:>6.2f} "
            f"{min(ratios):>5.2f}-{max(ratios):<5.2f} {IMAGES / ours_s:>13,.0f} {IMAGES / theirs_s:>10,.0f} "
            f"{ours[0][0]:>7.2f}/{theirs[0][0]:<8.2f}"
        )
        print(f"# {framework}: measured in {time.perf_counter() - started:.0f} s", flush=True)
    print("\n".join(rows))
    if args.optimizer != "sgd":
        print(f"harness side: optimizer={args.optimizer}; d2l-style side: plain SGD")
    print("ratio = harness / d2l-style steady-state epoch (train 60,000 + evaluate 10,000 images), median over all"
          " rounds; per round: the range of the rounds' own ratios; lower is better")


if __name__ == "__main__":
    main()
