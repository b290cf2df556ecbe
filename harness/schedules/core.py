"""The building blocks: the ``Schedule`` type, argument checks, and the combinators
(``join_schedules``, ``with_warmup``, ``restarts``) that every composite schedule is made of.

A schedule is a pure function ``lr_at(t) -> float`` (or ``momentum_at(t)``): no state, the same
``t`` always gives the same answer. ``t`` counts epochs or optimizer updates, as the config's
``unit`` says; the first update uses ``lr_at(0)``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

Schedule = Callable[[int], float]

UNITS = ("epoch", "step")
WARMUP_SHAPES = ("linear", "cosine")


def check_lr(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite learning rate")


def check_final_lr(final_lr: float, base_lr: float) -> None:
    """For a decay: 0 <= final_lr <= base_lr."""
    if not (isinstance(final_lr, (int, float)) and math.isfinite(final_lr) and 0 <= final_lr <= base_lr):
        raise ValueError(f"final_lr={final_lr!r} must be in [0, base_lr={base_lr!r}] (a decay ends at or below where it starts)")


def check_length(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive length")


def check_fraction(name: str, value: float, low_open: bool = True, high_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (0 < value if low_open else 0 <= value) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name}={value!r} must be in {interval}")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is unknown; choose one of {', '.join(choices)}")


def check_t(t: int) -> None:
    if t < 0:
        raise ValueError(f"t={t} must be >= 0")


def linear(begin_lr: float, end_lr: float, steps: int) -> Schedule:
    """Straight line from begin_lr at t=0 towards end_lr at t=steps, end_lr afterwards.

    linear(0.0, 0.3, 5)(1) == 0.06
    """
    if steps <= 0:
        raise ValueError(f"steps={steps!r} must be positive")
    if begin_lr < 0:
        raise ValueError(f"begin_lr={begin_lr!r} must be >= 0")
    check_lr("end_lr", end_lr)

    def lr_at(t: int) -> float:
        check_t(t)
        return begin_lr + (end_lr - begin_lr) * min(t, steps) / steps

    return lr_at


def half_cosine(begin: float, end: float, steps: float) -> Schedule:
    """From begin at t=0 to end at t=steps along half a cosine, end afterwards (either direction)."""
    check_length("steps", steps)

    def value_at(t: float) -> float:
        check_t(t)
        if t >= steps:
            return float(end)
        return end + (begin - end) * (1 + math.cos(math.pi * t / steps)) / 2

    return value_at


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Use schedules[i] between boundaries[i-1] and boundaries[i]; each restarts its own clock.

    join_schedules([a, b], [5])(7) == b(2)
    """
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(f"{len(schedules)} schedules need {len(schedules) - 1} boundaries, got {list(boundaries)}")
    if any(b <= a for a, b in zip(boundaries, boundaries[1:])) or any(b <= 0 for b in boundaries):
        raise ValueError(f"boundaries={list(boundaries)} must be positive and strictly increasing")

    def lr_at(t: int) -> float:
        check_t(t)
        i = bisect_left(boundaries, t + 1)  # number of boundaries <= t
        start = boundaries[i - 1] if i else 0
        return schedules[i](t - start)

    return lr_at


def with_warmup(schedule: Schedule, warmup_steps: int, warmup_begin_lr: float = 0.0, warmup_shape: str = "linear") -> Schedule:
    """Warm up from warmup_begin_lr to schedule(0) over warmup_steps, then run ``schedule``
    on its own clock (t - warmup_steps). Works in front of any schedule.

    linear: begin + (peak - begin) * t / w;  cosine: begin + (peak - begin) * (1 - cos(pi t / w)) / 2.
    with_warmup(constant(0.3), 3)(1) == 0.1;  with_warmup(s, 3)(3) == s(0).
    """
    check_length("warmup_steps", warmup_steps)
    check_choice("warmup_shape", warmup_shape, WARMUP_SHAPES)
    peak = schedule(0)
    if not (math.isfinite(warmup_begin_lr) and 0 <= warmup_begin_lr < peak):
        raise ValueError(
            f"warmup_begin_lr={warmup_begin_lr!r} must be >= 0 and below the rate it warms up to ({peak!r}, base_lr)"
        )
    if warmup_shape == "linear":
        ramp = linear(warmup_begin_lr, peak, warmup_steps)
    else:
        ramp = half_cosine(warmup_begin_lr, peak, warmup_steps)
    return join_schedules([ramp, schedule], [warmup_steps])


def restarts(make_cycle: Callable[[int, float], Schedule], cycle_steps: float, cycle_mult: float = 1.0) -> Schedule:
    """Cycles of length cycle_steps * cycle_mult**i; cycle i is ``make_cycle(i, length)``, run on
    its own clock from the cycle's start (SGDR's restarts, Loshchilov & Hutter 2017).

    restarts(lambda i, n: cosine(1.0, 0.0, n), 10)(13) == cosine(1.0, 0.0, 10)(3)
    """
    check_length("cycle_steps", cycle_steps)
    if not (math.isfinite(cycle_mult) and cycle_mult >= 1):
        raise ValueError(f"cycle_mult={cycle_mult!r} (T_mult) must be >= 1")
    cycle = lru_cache(maxsize=64)(make_cycle)  # the answers do not depend on the cache

    def start(i: int) -> float:
        return cycle_steps * i if cycle_mult == 1 else cycle_steps * (cycle_mult**i - 1) / (cycle_mult - 1)

    def value_at(t: int) -> float:
        check_t(t)
        if cycle_mult == 1:
            i = int(t // cycle_steps)
        else:
            i = int(math.floor(math.log(1 + t * (cycle_mult - 1) / cycle_steps) / math.log(cycle_mult)))
        while i > 0 and t < start(i):  # float rounding of the logarithm at a boundary
            i -= 1
        while t >= start(i + 1):
            i += 1
        return cycle(i, cycle_steps * cycle_mult**i)(t - start(i))

    return value_at


def epoch_learning_rates(lr_at: Schedule, unit: str, epoch: int, steps_per_epoch: int) -> np.ndarray:
    """The value of every update in ``epoch`` (float64, one per update): a rate, or a momentum.

    unit=epoch: every update of the epoch uses lr_at(epoch).
    unit=step: update k of the run (0-based) uses lr_at(k).
    """
    if unit == "epoch":
        return np.full(steps_per_epoch, lr_at(epoch), dtype=np.float64)
    if unit == "step":
        first = epoch * steps_per_epoch
        return np.array([lr_at(first + i) for i in range(steps_per_epoch)], dtype=np.float64)
    raise ValueError(f"unit={unit!r} must be one of {UNITS}")
