"""The guideline study's design, in one table: the arms (schedule, optimizer, shape), the grids of
rates, the seeds and the data sizes. A leaf of ``harness.studies``: the driver (guideline.py), the
grid reader (grid.py) and the report (report.py) all read it, and it imports none of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.frameworks import NAMES as FRAMEWORKS

STUDY_DIR = "results/guideline_study"
TUNING_DIR = f"{STUDY_DIR}/tuning"
FINAL_DIR = f"{STUDY_DIR}/final"
BATCH = 256
GRID_TRAIN = 10_000  # experiments/guideline_tuning.yaml: data.train_size
FULL_TRAIN = 60_000
VAL = 10_000  # the validation split: the grid's, and plateau's in the final runs
EPOCHS = 30
GRID_SEEDS = (0, 1)
TORCH_SEEDS = tuple(range(10))
OTHER_SEEDS = (0, 1, 2)
# A half-decade log grid around the range test's suggestions for SGD with momentum 0.9 when the grid
# was planned (the old rules: valley 0.0024, steep 0.015; the new advice is collapse/3 = 0.023). The first three arms
# ran from 0.001; it came out 8.4, 13.5 and 11.5 points below their best (0.03), so the other arms
# start at 0.003 (five points, the band's lower edge at 0.01 still inside): about 20 minutes saved.
SGD_RATES_FIRST = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
SGD_RATES = SGD_RATES_FIRST[1:]
ADAM_RATES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03)  # around find-lr's 0.0005-0.0017 for Adam (valley, steep)
SGD = ("optimizer=sgd", "optimizer.momentum=0.9")
ADAM = ("optimizer=adam",)


@dataclass(frozen=True)
class Arm:
    """One schedule (and optimizer) of the study: its config option and what differs from its defaults."""

    label: str  # the arm's name in the report: the option, "+adam" for the Adam arms
    option: str  # scheduler=OPTION
    fixed: tuple[str, ...] = ()  # overrides that do not depend on the data size or the rate
    step_epochs: dict = field(default_factory=dict)  # key -> epochs, written as updates of the phase
    epoch_keys: dict = field(default_factory=dict)  # key -> epochs at the 30-epoch budget, scaled to a short one
    optimizer: tuple[str, ...] = SGD
    rates: tuple[float, ...] = SGD_RATES
    # cyclic: the rate tuned is the peak; the bottom stays a tenth of it (the option's 0.05/0.5)
    peak_key: str | None = None
    frameworks: tuple[str, ...] = ("torch",)


ALL = FRAMEWORKS  # every framework of the registry (harness.frameworks)
ARMS = (
    Arm("constant", "constant", frameworks=ALL, rates=SGD_RATES_FIRST),
    Arm("step", "step", frameworks=ALL, rates=SGD_RATES_FIRST,
        epoch_keys={"scheduler.step_size": 10}),  # x0.1 every 10 epochs
    Arm("cosine", "cosine", ("scheduler.final_lr=0", "scheduler.total_steps=null"), frameworks=ALL,
        rates=SGD_RATES_FIRST),
    Arm("warmup", "warmup", ("scheduler.unit=step", "scheduler.final_lr=0", "scheduler.total_steps=null"),
        {"scheduler.warmup_steps": 5}, frameworks=ALL),  # warmup + cosine
    Arm("onecycle", "onecycle", ("scheduler.cycle_momentum=true",), frameworks=ALL),  # torch's defaults
    Arm("exponential", "exponential"),  # x0.9 an epoch
    Arm("warmup_linear", "warmup_linear", ("scheduler.unit=step",), {"scheduler.warmup_steps": 3}),
    Arm("cosine_restarts", "cosine_restarts"),  # SGDR: cycles of 10 and 20 epochs
    Arm("cyclic", "cyclic", ("scheduler.mode=triangular2", "scheduler.cycle_momentum=true"),
        {"scheduler.step_size_up": 3}, peak_key="scheduler.max_lr"),
    Arm("wsd", "wsd", ("scheduler.unit=step",), {"scheduler.warmup_steps": 2}),
    Arm("plateau", "plateau", ("scheduler.min_lr=0",)),  # monitors val_loss: keeps its split in the final runs
    Arm("sqrt", "sqrt"),
    Arm("multifactor", "multifactor"),
    Arm("constant+adam", "constant", optimizer=ADAM, rates=ADAM_RATES),
    Arm("cosine+adam", "cosine", ("scheduler.final_lr=0", "scheduler.total_steps=null"), optimizer=ADAM,
        rates=ADAM_RATES),
)


# Claim 4 (one-cycle and cyclic "train faster"): the same arms at short budgets, each schedule's
# shape scaled to the budget (cosine and one-cycle follow `epochs`; step decays every budget/3 epochs;
# cyclic's half-cycle is a tenth of the budget), at the rates tuned for 30 epochs (the report says so).
SHORT_BUDGETS = (5, 10)
SHORT_ARMS = ("constant", "step", "cosine", "onecycle", "cyclic")


def updates_per_epoch(train_images: int) -> int:
    return math.ceil(train_images / BATCH)


def rate_overrides(arm: Arm, rate: float) -> list[str]:
    if arm.peak_key:
        return [f"{arm.peak_key}={rate:g}", f"scheduler.base_lr={rate / 10:g}"]
    return [f"scheduler.base_lr={rate:g}"]


def arm_overrides(arm: Arm, train_images: int, budget: int = EPOCHS) -> list[str]:
    """The arm's settings for a phase: per-update lengths from epochs, and (at a short budget)
    epoch lengths scaled to it. At the 30-epoch budget only the option's defaults are used."""
    per_epoch, scale = updates_per_epoch(train_images), budget / EPOCHS
    scaled = [f"{key}={max(1, round(epochs * scale))}" for key, epochs in arm.epoch_keys.items()] if budget != EPOCHS else []
    return [*arm.optimizer, f"scheduler={arm.option}", *arm.fixed, *scaled,
            *(f"{key}={round(epochs * scale * per_epoch)}" for key, epochs in arm.step_epochs.items())]
