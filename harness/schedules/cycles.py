"""Cyclical schedules, which move momentum opposite to the rate: one-cycle and CLR.

Each has a rate factory (``onecycle``, ``cyclic``) and a momentum factory with the same
arguments (``onecycle_momentum``, ``cyclic_momentum``): ``momentum_at(t)`` is SGD's momentum,
or beta1 for Adam-family optimizers, as torch's OneCycleLR and CyclicLR set it.
"""

from __future__ import annotations

import math

from harness.schedules.core import Schedule, check_choice, check_fraction, check_length, check_lr, check_t
from harness.schedules.registry import register

ANNEALS = ("cos", "linear")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _check_momentum_range(base_momentum: float, max_momentum: float) -> None:
    for name, value in (("base_momentum", base_momentum), ("max_momentum", max_momentum)):
        check_fraction(name, value, low_open=False)
    if base_momentum > max_momentum:
        raise ValueError(
            f"base_momentum={base_momentum!r} must be <= max_momentum={max_momentum!r} "
            "(momentum is high where the rate is low)"
        )


def _anneal(kind: str, start: float, end: float, pct: float) -> float:
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _onecycle_phases(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """Where each phase ends (torch OneCycleLR's end_step): the rate peaks at pct_start*T - 1."""
    check_length("total_steps", total_steps)
    check_fraction("pct_start", pct_start)
    up = float(pct_start * total_steps) - 1
    ends = [up, 2 * up, total_steps - 1.0] if three_phase else [up, total_steps - 1.0]
    if any(b <= a for a, b in zip(ends, ends[1:])):  # up <= 0 (a tiny run) skips the rise, as torch does
        raise ValueError(
            f"pct_start={pct_start!r} with total_steps={total_steps!r} leaves a phase without updates "
            f"(phases end at {ends}); lengthen total_steps or move pct_start"
        )
    return ends


def _phase_value(ends: list[float], points: list[float], anneal: str, t: float) -> float:
    """Anneal from points[i] to points[i+1] during phase i; points[-1] after the last phase."""
    start = 0.0
    for i, end in enumerate(ends):
        if t <= end:
            return _anneal(anneal, points[i], points[i + 1], (t - start) / (end - start))
        start = end
    return points[-1]


def onecycle_momentum(total_steps: int, pct_start: float = 0.3, base_momentum: float = 0.85, max_momentum: float = 0.95,
                      anneal: str = "cos", three_phase: bool = False, cycle_momentum: bool = True) -> Schedule | None:
    """One-cycle's momentum: max_momentum down to base_momentum while the rate rises, back up while
    it falls (three_phase: stays at max_momentum in the last phase). None if cycle_momentum is false."""
    _check_momentum_range(base_momentum, max_momentum)
    ends = _onecycle_phases(total_steps, pct_start, three_phase)
    if not cycle_momentum:
        return None
    points = [max_momentum, base_momentum, max_momentum, max_momentum] if three_phase else [max_momentum, base_momentum, max_momentum]

    def momentum_at(t: int) -> float:
        check_t(t)
        return _phase_value(ends, points, anneal, t)

    return momentum_at


@register("onecycle", family="cyclic", order=14, colour=(14, 1), native=("torch.optim.lr_scheduler.OneCycleLR",), momentum=onecycle_momentum)
def onecycle(base_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
             final_div_factor: float = 1e4, anneal: str = "cos", three_phase: bool = False,
             base_momentum: float = 0.85, max_momentum: float = 0.95, cycle_momentum: bool = True) -> Schedule:
    """The 1cycle policy (Smith & Topin 2019; torch OneCycleLR). base_lr is the peak (torch's max_lr):

    from base_lr / div_factor up to base_lr at t = pct_start*T - 1, then down to
    base_lr / div_factor / final_div_factor at t = T - 1 (three_phase: back to base_lr / div_factor
    at 2 (pct_start*T - 1), then to the minimum), that minimum afterwards; anneal = cos | linear.
    onecycle(1.0, 100)(29) == 1.0;  onecycle(1.0, 100)(0) == 0.04
    """
    check_lr("base_lr", base_lr)
    check_choice("anneal", anneal, ANNEALS)
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        if not (math.isfinite(value) and value >= 1):
            raise ValueError(f"{name}={value!r} must be >= 1 (the cycle starts and ends below base_lr)")
    ends = _onecycle_phases(total_steps, pct_start, three_phase)
    initial = base_lr / div_factor
    lowest = initial / final_div_factor
    points = [initial, base_lr, initial, lowest] if three_phase else [initial, base_lr, lowest]
    onecycle_momentum(total_steps, pct_start, base_momentum, max_momentum, anneal, three_phase, cycle_momentum)  # validate

    def lr_at(t: int) -> float:
        check_t(t)
        return _phase_value(ends, points, anneal, t)

    return lr_at


def _cyclic_position(step_size_up: float, step_size_down: float | None, mode: str, gamma: float):
    check_length("step_size_up", step_size_up)
    if step_size_down is None:
        step_size_down = step_size_up
    check_length("step_size_down", step_size_down)
    check_choice("mode", mode, CYCLIC_MODES)
    check_fraction("gamma", gamma, high_open=False)
    total = float(step_size_up + step_size_down)
    ratio = step_size_up / total

    def position(t: int) -> tuple[float, float]:
        """(0 at the bottom .. 1 at the top, the amplitude's scale) of update t, as torch CyclicLR."""
        check_t(t)
        cycle = math.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        scale = {"triangular": 1.0, "triangular2": 1 / (2.0 ** (cycle - 1)), "exp_range": gamma**t}[mode]
        return height, scale

    return position


def cyclic_momentum(step_size_up: float, step_size_down: float | None = None, mode: str = "triangular", gamma: float = 1.0,
                    base_momentum: float = 0.8, max_momentum: float = 0.9, cycle_momentum: bool = True) -> Schedule | None:
    """CLR's momentum: max_momentum - (max_momentum - base_momentum) * height * scale, the rate's
    triangle upside down (torch CyclicLR). None if cycle_momentum is false."""
    _check_momentum_range(base_momentum, max_momentum)
    position = _cyclic_position(step_size_up, step_size_down, mode, gamma)
    if not cycle_momentum:
        return None

    def momentum_at(t: int) -> float:
        height, scale = position(t)
        return max_momentum - (max_momentum - base_momentum) * height * scale

    return momentum_at


@register("cyclic", family="cyclic", order=15, colour=(15, 1), native=("torch.optim.lr_scheduler.CyclicLR",), momentum=cyclic_momentum)
def cyclic(base_lr: float, max_lr: float, step_size_up: float, step_size_down: float | None = None,
           mode: str = "triangular", gamma: float = 1.0,
           base_momentum: float = 0.8, max_momentum: float = 0.9, cycle_momentum: bool = True) -> Schedule:
    """Cyclical learning rates (Smith 2017; torch CyclicLR): triangles between base_lr (the bottom)
    and max_lr, rising for step_size_up and falling for step_size_down (default: the same);
    triangular2 halves the amplitude each cycle, exp_range scales it by gamma**t.
    cyclic(0.01, 0.1, 10)(10) == 0.1;  cyclic(0.01, 0.1, 10)(20) == 0.01
    """
    check_lr("base_lr", base_lr)
    check_lr("max_lr", max_lr)
    if max_lr <= base_lr:
        raise ValueError(f"max_lr={max_lr!r} must be above base_lr={base_lr!r} (base_lr is the bottom of the cycle)")
    position = _cyclic_position(step_size_up, step_size_down, mode, gamma)
    cyclic_momentum(step_size_up, step_size_down, mode, gamma, base_momentum, max_momentum, cycle_momentum)  # validate

    def lr_at(t: int) -> float:
        height, scale = position(t)
        return base_lr + (max_lr - base_lr) * height * scale

    return lr_at


@register("linear_onecycle", family="cyclic", order=14.5)
def linear_onecycle(base_lr: float, total_steps: int, pct_start: float = 0.3, pct_final: float = 0.85,
                    div_factor: float = 25.0, final_div_factor: float = 1e4) -> Schedule:
    """optax's linear_onecycle_schedule, base_lr the peak: straight lines through
    base_lr / div_factor at t=0, base_lr at a = int(pct_start T), base_lr / div_factor at
    b = int(pct_final T), and base_lr / div_factor / final_div_factor at T, that value afterwards.
    Unlike torch's OneCycleLR (``onecycle``) the descent has two parts, and the phases end at whole steps.

    linear_onecycle(1.0, 100): 0.04 at t=0, 1.0 at t=30, 0.04 at t=85, 4e-6 from t=100 on.
    """
    check_lr("base_lr", base_lr)
    check_length("total_steps", total_steps)
    check_fraction("pct_start", pct_start)
    check_fraction("pct_final", pct_final)
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        if not (math.isfinite(value) and value >= 1):
            raise ValueError(f"{name}={value!r} must be >= 1 (the cycle starts and ends below base_lr)")
    ends = [int(pct_start * total_steps), int(pct_final * total_steps), int(total_steps)]
    if not 0 < ends[0] < ends[1] < ends[2]:
        raise ValueError(f"pct_start={pct_start!r} and pct_final={pct_final!r} with total_steps={total_steps!r} put the "
                         f"phases' ends at {ends}: each must come after the one before (pct_start < pct_final, a longer run)")
    points = [base_lr / div_factor, base_lr, base_lr / div_factor, base_lr / div_factor / final_div_factor]

    def lr_at(t: int) -> float:
        check_t(t)
        start = 0
        for i, end in enumerate(ends):
            if t < end:
                return points[i] + (points[i + 1] - points[i]) * (t - start) / (end - start)
            start = end
        return points[-1]

    return lr_at
