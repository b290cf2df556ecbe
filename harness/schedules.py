"""Learning-rate schedules as pure functions ``lr_at(t) -> float``.

Each factory validates its arguments (``ValueError`` naming the value) and returns a
closure with no state: calling it twice with the same ``t`` gives the same answer.
``t`` counts epochs or optimizer updates, as the config's ``unit`` says; the first
update uses ``lr_at(0)``. Complex schedules are compositions: warmup + cosine is
``join_schedules([linear(...), cosine(...)], [warmup_steps])``.

The d2l chapter's schedulers are stateful; these reproduce their intended curves.
``tests/test_schedules.py`` re-implements the chapter's classes and pins each difference.
"""

from __future__ import annotations

import inspect
import math
from bisect import bisect_left
from typing import Callable, Sequence

import numpy as np

Schedule = Callable[[int], float]

UNITS = ("epoch", "step")


def _check_lr(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite learning rate")


def _check_t(t: int) -> None:
    if t < 0:
        raise ValueError(f"t={t} must be >= 0")


def constant(base_lr: float) -> Schedule:
    """lr(t) = base_lr."""
    _check_lr("base_lr", base_lr)
    return lambda t: float(base_lr)


def sqrt_decay(base_lr: float) -> Schedule:
    """lr(t) = base_lr / sqrt(t + 1).   sqrt_decay(0.1)(3) == 0.05"""
    _check_lr("base_lr", base_lr)

    def lr_at(t: int) -> float:
        _check_t(t)
        return base_lr * (t + 1.0) ** -0.5

    return lr_at


def factor_decay(base_lr: float, factor: float, final_lr: float) -> Schedule:
    """lr(t) = max(final_lr, base_lr * factor**t).   factor_decay(2.0, 0.9, 0.01)(1) == 1.8"""
    _check_lr("base_lr", base_lr)
    _check_lr("final_lr", final_lr)
    if not 0 < factor < 1:
        raise ValueError(f"factor={factor!r} must be in (0, 1)")
    if final_lr > base_lr:
        raise ValueError(f"final_lr={final_lr!r} must be <= base_lr={base_lr!r}")

    def lr_at(t: int) -> float:
        _check_t(t)
        return max(final_lr, base_lr * factor**t)

    return lr_at


def multi_factor(base_lr: float, milestones: Sequence[int], factor: float) -> Schedule:
    """Multiply by ``factor`` once ``t`` has passed each milestone (t > m), as in MXNet and Keras.

    multi_factor(0.5, [15, 30], 0.5): 0.5 for t <= 15, 0.25 for 15 < t <= 30, 0.125 after.
    PyTorch's MultiStepLR drops one step earlier (at t == m); the tests pin that difference.
    """
    _check_lr("base_lr", base_lr)
    milestones = [int(m) for m in milestones]
    if not milestones:
        raise ValueError("milestones=[] must list at least one step")
    if any(m < 0 for m in milestones):
        raise ValueError(f"milestones={milestones} must be >= 0")
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ValueError(f"milestones={milestones} must be strictly increasing")
    if not 0 < factor < 1:
        raise ValueError(f"factor={factor!r} must be in (0, 1)")

    def lr_at(t: int) -> float:
        _check_t(t)
        return base_lr * factor ** bisect_left(milestones, t)

    return lr_at


def linear(begin_lr: float, end_lr: float, steps: int) -> Schedule:
    """Straight line from begin_lr at t=0 towards end_lr at t=steps, end_lr afterwards.

    linear(0.0, 0.3, 5)(1) == 0.06
    """
    if steps <= 0:
        raise ValueError(f"steps={steps!r} must be positive")
    if begin_lr < 0:
        raise ValueError(f"begin_lr={begin_lr!r} must be >= 0")
    _check_lr("end_lr", end_lr)

    def lr_at(t: int) -> float:
        _check_t(t)
        return begin_lr + (end_lr - begin_lr) * min(t, steps) / steps

    return lr_at


def cosine(base_lr: float, final_lr: float, total_steps: int) -> Schedule:
    """lr(t) = final + (base - final) * (1 + cos(pi t / T)) / 2 for t <= T, final after.

    cosine(0.3, 0.01, 20): 0.3 at t=0, 0.155 at t=10, 0.01 from t=20 on.
    """
    _check_lr("base_lr", base_lr)
    if not (math.isfinite(final_lr) and 0 <= final_lr <= base_lr):
        raise ValueError(f"final_lr={final_lr!r} must be in [0, base_lr={base_lr!r}]")
    if total_steps <= 0:
        raise ValueError(f"total_steps={total_steps!r} must be positive")

    def lr_at(t: int) -> float:
        _check_t(t)
        if t >= total_steps:
            return float(final_lr)
        return final_lr + (base_lr - final_lr) * (1 + math.cos(math.pi * t / total_steps)) / 2

    return lr_at


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Use schedules[i] between boundaries[i-1] and boundaries[i]; each restarts its own clock.

    join_schedules([a, b], [5])(7) == b(2)
    """
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(f"{len(schedules)} schedules need {len(schedules) - 1} boundaries, got {list(boundaries)}")
    if any(b <= a for a, b in zip(boundaries, boundaries[1:])) or any(b <= 0 for b in boundaries):
        raise ValueError(f"boundaries={list(boundaries)} must be positive and strictly increasing")

    def lr_at(t: int) -> float:
        _check_t(t)
        i = bisect_left(boundaries, t + 1)  # number of boundaries <= t
        start = boundaries[i - 1] if i else 0
        return schedules[i](t - start)

    return lr_at


def warmup_cosine(base_lr: float, final_lr: float, total_steps: int, warmup_steps: int, warmup_begin_lr: float = 0.0) -> Schedule:
    """Linear warmup from warmup_begin_lr to base_lr, then cosine to final_lr at total_steps.

    The horizon counts the warmup (as MXNet's CosineScheduler): the cosine part lasts
    total_steps - warmup_steps. warmup_cosine(0.3, 0.01, 20, 5): 0, 0.06, ..., 0.24, 0.3 at t=5.
    """
    if not 0 < warmup_steps < total_steps:
        raise ValueError(f"warmup_steps={warmup_steps!r} must be > 0 and < total_steps={total_steps!r}")
    return join_schedules(
        [linear(warmup_begin_lr, base_lr, warmup_steps), cosine(base_lr, final_lr, total_steps - warmup_steps)],
        [warmup_steps],
    )


FACTORIES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "sqrt": sqrt_decay,
    "factor": factor_decay,
    "multifactor": multi_factor,
    "cosine": cosine,
    "warmup_cosine": warmup_cosine,
}


def build_schedule(kind: str, params: dict) -> Schedule:
    """Build a registered schedule from config parameters (unused keys set to None are dropped)."""
    if kind not in FACTORIES:
        raise ValueError(f"kind={kind!r} is not a schedule; known: {', '.join(FACTORIES)}")
    factory = FACTORIES[kind]
    accepted = inspect.signature(factory).parameters
    given = {k: v for k, v in params.items() if v is not None}
    unexpected = sorted(set(given) - set(accepted))
    if unexpected:
        raise ValueError(f"{kind} schedule does not take {unexpected}; it takes {list(accepted)}")
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in given]
    if missing:
        raise ValueError(f"{kind} schedule needs {missing}")
    return factory(**given)


def epoch_learning_rates(lr_at: Schedule, unit: str, epoch: int, steps_per_epoch: int) -> np.ndarray:
    """The learning rate of every update in ``epoch`` (float64, one per update).

    unit=epoch: every update of the epoch uses lr_at(epoch).
    unit=step: update k of the run (0-based) uses lr_at(k).
    """
    if unit == "epoch":
        return np.full(steps_per_epoch, lr_at(epoch), dtype=np.float64)
    if unit == "step":
        first = epoch * steps_per_epoch
        return np.array([lr_at(first + i) for i in range(steps_per_epoch)], dtype=np.float64)
    raise ValueError(f"unit={unit!r} must be one of {UNITS}")


# Metric-driven: the factory validates its keys and gives the rate before any reduction; the
# runner holds the state (harness/plateau.py).
from harness.plateau import plateau  # noqa: E402

FACTORIES["plateau"] = plateau
