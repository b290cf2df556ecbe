"""Rate schedules that start at ``base_lr`` (after an optional warmup) and decay.

Each factory validates its arguments (``ValueError`` naming the value) and returns a pure
closure. Formulas and the framework objects each was checked against: docs/schedules.md.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Sequence

from harness.schedules.registry import register
from harness.schedules.core import (
    Schedule,
    check_choice,
    check_final_lr,
    check_fraction,
    check_length,
    check_lr,
    check_t,
    half_cosine,
    join_schedules,
    restarts,
    with_warmup,
)

DECAY_SHAPES = ("linear", "1-sqrt", "cosine")


# --- the d2l chapter's six (their defaults are in conf/scheduler/) ------------------------------


@register("constant", family="constant", order=0, colour=(0, 0), d2l=True)
def constant(base_lr: float) -> Schedule:
    """lr(t) = base_lr."""
    check_lr("base_lr", base_lr)
    return lambda t: float(base_lr)


@register("sqrt", family="smooth decay", order=1, colour=(1, 0), d2l=True, native=("torch.optim.lr_scheduler.LambdaLR",))
def sqrt_decay(base_lr: float) -> Schedule:
    """lr(t) = base_lr / sqrt(t + 1).   sqrt_decay(0.1)(3) == 0.05"""
    check_lr("base_lr", base_lr)

    def lr_at(t: int) -> float:
        check_t(t)
        return base_lr * (t + 1.0) ** -0.5

    return lr_at


@register("factor", family="smooth decay", order=2, colour=(2, 0), native=("mxnet.lr_scheduler.FactorScheduler",))
def factor_decay(base_lr: float, factor: float, final_lr: float) -> Schedule:
    """lr(t) = max(final_lr, base_lr * factor**t).   factor_decay(2.0, 0.9, 0.01)(1) == 1.8"""
    check_lr("base_lr", base_lr)
    check_lr("final_lr", final_lr)
    if not 0 < factor < 1:
        raise ValueError(f"factor={factor!r} must be in (0, 1)")
    if final_lr > base_lr:
        raise ValueError(f"final_lr={final_lr!r} must be <= base_lr={base_lr!r}")

    def lr_at(t: int) -> float:
        check_t(t)
        return max(final_lr, base_lr * factor**t)

    return lr_at


@register("multifactor", family="step-wise decay", order=3, colour=(3, 0), d2l=True,
          native=("torch.optim.lr_scheduler.MultiStepLR", "keras.optimizers.schedules.PiecewiseConstantDecay", "mxnet.lr_scheduler.MultiFactorScheduler"))
def multi_factor(base_lr: float, milestones: Sequence[int], factor: float) -> Schedule:
    """Multiply by ``factor`` once ``t`` has passed each milestone (t > m), as in MXNet and Keras.

    multi_factor(0.5, [15, 30], 0.5): 0.5 for t <= 15, 0.25 for 15 < t <= 30, 0.125 after.
    PyTorch's MultiStepLR drops one step earlier (at t == m); the tests pin that difference.
    """
    check_lr("base_lr", base_lr)
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
        check_t(t)
        return base_lr * factor ** bisect_left(milestones, t)

    return lr_at


@register("piecewise_constant", family="step-wise decay", order=3.5,
          native=("keras.optimizers.schedules.PiecewiseConstantDecay",))
def piecewise_constant(base_lr: float, boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """base_lr until t passes boundaries[0], then values[i] once t passes boundaries[i] (t > b), as
    Keras PiecewiseConstantDecay(boundaries, [base_lr, *values]); optax's piecewise_constant_schedule
    switches one step earlier (at t == b) and multiplies by scales (tests pin it).

    piecewise_constant(0.3, [10, 20], [0.1, 0.01]): 0.3 for t <= 10, 0.1 for 10 < t <= 20, 0.01 after.
    """
    check_lr("base_lr", base_lr)
    boundaries, values = [int(b) for b in boundaries or []], [float(v) for v in values or []]
    if not boundaries or len(values) != len(boundaries):
        raise ValueError(f"boundaries={boundaries} and values={values} must be as long as each other, "
                         "at least one each (values[i] is the rate once t passes boundaries[i])")
    if boundaries[0] < 0 or any(b <= a for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"boundaries={boundaries} must be >= 0 and strictly increasing")
    for i, value in enumerate(values):
        check_lr(f"values[{i}]", value)
    rates = [float(base_lr), *values]

    def lr_at(t: int) -> float:
        check_t(t)
        return rates[bisect_left(boundaries, t)]

    return lr_at


@register("cosine", family="cosine", order=4, colour=(4, 0), d2l=True, native=("torch.optim.lr_scheduler.CosineAnnealingLR", "mxnet.lr_scheduler.CosineScheduler"))
def cosine(base_lr: float, final_lr: float, total_steps: int, exponent: float = 1.0) -> Schedule:
    """lr(t) = final + (base - final) * ((1 + cos(pi t / T)) / 2)**exponent for t <= T, final after
    (optax cosine_decay_schedule(base, T, alpha=final/base, exponent)).

    cosine(0.3, 0.01, 20): 0.3 at t=0, 0.155 at t=10, 0.01 from t=20 on;
    cosine(0.3, 0.0, 20, exponent=2)(10) == 0.075
    """
    check_lr("base_lr", base_lr)
    check_final_lr(final_lr, base_lr)
    if total_steps <= 0:
        raise ValueError(f"total_steps={total_steps!r} must be positive")
    if not (isinstance(exponent, (int, float)) and math.isfinite(exponent) and exponent > 0):
        raise ValueError(f"exponent={exponent!r} must be positive (1 is the plain cosine)")
    if exponent == 1:
        return half_cosine(base_lr, final_lr, total_steps)

    def lr_at(t: int) -> float:
        check_t(t)
        return final_lr + (base_lr - final_lr) * ((1 + math.cos(math.pi * min(t, total_steps) / total_steps)) / 2) ** exponent

    return lr_at


@register("warmup_cosine", family="cosine", order=5, colour=(5, 0), d2l=True, aliases=("warmup",),
          native=("keras.optimizers.schedules.CosineDecay", "mxnet.lr_scheduler.CosineScheduler"))
def warmup_cosine(base_lr: float, final_lr: float, total_steps: int, warmup_steps: int, warmup_begin_lr: float = 0.0,
                  warmup_shape: str = "linear") -> Schedule:
    """Warmup from warmup_begin_lr to base_lr, then cosine to final_lr at total_steps.

    The horizon counts the warmup (as MXNet's CosineScheduler): the cosine part lasts
    total_steps - warmup_steps. warmup_cosine(0.3, 0.01, 20, 5): 0, 0.06, ..., 0.24, 0.3 at t=5.
    """
    if not 0 < warmup_steps < total_steps:
        raise ValueError(f"warmup_steps={warmup_steps!r} must be > 0 and < total_steps={total_steps!r}")
    return with_warmup(cosine(base_lr, final_lr, total_steps - warmup_steps), warmup_steps, warmup_begin_lr, warmup_shape)


# --- the textbook decays --------------------------------------------------------------------------


@register("step", family="step-wise decay", order=6, colour=(6, 0), native=("torch.optim.lr_scheduler.StepLR", "mxnet.lr_scheduler.FactorScheduler"))
def step_decay(base_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """lr(t) = base_lr * gamma**floor(t / step_size)   (torch StepLR).   step_decay(0.1, 10, 0.5)(10) == 0.05"""
    check_lr("base_lr", base_lr)
    check_length("step_size", step_size)
    check_fraction("gamma", gamma)

    def lr_at(t: int) -> float:
        check_t(t)
        return base_lr * gamma ** (t // step_size)

    return lr_at


@register("exponential", family="smooth decay", order=7, colour=(7, 0), native=("torch.optim.lr_scheduler.ExponentialLR", "keras.optimizers.schedules.ExponentialDecay"))
def exponential(base_lr: float, gamma: float | None = None, decay_rate: float | None = None,
                decay_steps: float | None = None, staircase: bool = False, final_lr: float | None = None) -> Schedule:
    """lr(t) = base_lr * gamma**t (torch ExponentialLR), or Keras's ExponentialDecay form
    base_lr * decay_rate**(t / decay_steps), with floor(t / decay_steps) when staircase; never
    below final_lr when it is set (optax exponential_decay's end_value).

    exponential(0.1, gamma=0.9)(2) == 0.081;  exponential(0.1, decay_rate=0.5, decay_steps=10)(10) == 0.05;
    exponential(0.1, decay_rate=0.5, decay_steps=10, staircase=True, final_lr=0.02)(30) == 0.02
    """
    check_lr("base_lr", base_lr)
    if final_lr is not None:
        check_final_lr(final_lr, base_lr)
    if (gamma is None) == (decay_rate is None):
        raise ValueError(f"gamma={gamma!r}, decay_rate={decay_rate!r}: give exactly one (gamma per t, or decay_rate per decay_steps)")
    if gamma is not None:
        if decay_steps is not None or staircase:
            raise ValueError(f"gamma={gamma!r} decays every t; decay_steps and staircase go with decay_rate")
        rate, period = gamma, 1
        check_fraction("gamma", gamma, high_open=False)
    else:
        rate, period = decay_rate, decay_steps
        check_fraction("decay_rate", decay_rate, high_open=False)
        if decay_steps is None:
            raise ValueError("decay_rate needs decay_steps (the t over which the rate is multiplied by decay_rate)")
        check_length("decay_steps", decay_steps)

    def lr_at(t: int) -> float:
        check_t(t)
        p = t / period
        value = base_lr * rate ** (math.floor(p) if staircase else p)
        return value if final_lr is None else max(final_lr, value)

    return lr_at


@register("inverse_time", family="smooth decay", order=8, colour=(8, 0), native=("keras.optimizers.schedules.InverseTimeDecay",))
def inverse_time(base_lr: float, decay_rate: float, decay_steps: float, staircase: bool = False) -> Schedule:
    """lr(t) = base_lr / (1 + decay_rate * t / decay_steps), floor(t / decay_steps) when staircase
    (Keras InverseTimeDecay).   inverse_time(0.1, 1.0, 10)(10) == 0.05"""
    check_lr("base_lr", base_lr)
    if not (math.isfinite(decay_rate) and decay_rate > 0):
        raise ValueError(f"decay_rate={decay_rate!r} must be positive")
    check_length("decay_steps", decay_steps)

    def lr_at(t: int) -> float:
        check_t(t)
        p = t / decay_steps
        return base_lr / (1 + decay_rate * (math.floor(p) if staircase else p))

    return lr_at


@register("polynomial", family="smooth decay", order=9, colour=(9, 0),
          native=("torch.optim.lr_scheduler.PolynomialLR", "keras.optimizers.schedules.PolynomialDecay", "mxnet.lr_scheduler.PolyScheduler"))
def polynomial(base_lr: float, total_steps: int, power: float = 1.0, final_lr: float = 0.0, cycle: bool = False) -> Schedule:
    """lr(t) = (base_lr - final_lr) * (1 - t/T)**power + final_lr for t <= T, final_lr after
    (torch PolynomialLR, Keras PolynomialDecay, MXNet PolyScheduler). With cycle, past T the
    horizon grows to the next multiple of T, T * ceil(t / T) (Keras PolynomialDecay(cycle=True)),
    so the rate jumps up and decays again, each time from lower.
    polynomial(0.1, 10, power=2)(5) == 0.025;  polynomial(0.1, 10, cycle=True)(15) == 0.025"""
    check_lr("base_lr", base_lr)
    check_final_lr(final_lr, base_lr)
    check_length("total_steps", total_steps)
    if not (math.isfinite(power) and power > 0):
        raise ValueError(f"power={power!r} must be positive")

    if not isinstance(cycle, bool):
        raise ValueError(f"cycle={cycle!r} must be true or false")

    def lr_at(t: int) -> float:
        check_t(t)
        horizon = total_steps * max(1, math.ceil(t / total_steps)) if cycle else total_steps
        return (base_lr - final_lr) * (1 - min(t, horizon) / horizon) ** power + final_lr

    return lr_at


@register("linear_decay", family="smooth decay", order=10, colour=(10, 1), native=("torch.optim.lr_scheduler.LinearLR",))
def linear_decay(base_lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """Straight line from base_lr at t=0 to final_lr at t=total_steps, final_lr after (torch
    LinearLR; final_lr=0 is decay-to-zero).   linear_decay(0.1, 10)(5) == 0.05"""
    return polynomial(base_lr, total_steps, 1.0, final_lr)


@register("cosine_restarts", family="cosine", order=11, colour=(11, 1), aliases=("sgdr",),
          native=("torch.optim.lr_scheduler.CosineAnnealingWarmRestarts", "keras.optimizers.schedules.CosineDecayRestarts"))
def cosine_restarts(base_lr: float, cycle_steps: float, final_lr: float = 0.0, cycle_mult: float = 1.0,
                    cycle_decay: float = 1.0, cycle_warmup_steps: float = 0) -> Schedule:
    """SGDR (Loshchilov & Hutter 2017): cosine cycles from base_lr * cycle_decay**i down to final_lr,
    cycle i lasting cycle_steps * cycle_mult**i (torch CosineAnnealingWarmRestarts's T_0, T_mult;
    Keras CosineDecayRestarts's first_decay_steps, t_mul, m_mul). With cycle_warmup_steps, each
    cycle first rises linearly from final_lr to its peak.

    cosine_restarts(0.1, 10)(10) == 0.1 (a restart);  cosine_restarts(0.1, 10, cycle_mult=2)(30) == 0.1
    """
    check_lr("base_lr", base_lr)
    check_final_lr(final_lr, base_lr)
    if not (math.isfinite(cycle_decay) and 0 < cycle_decay <= 1):
        raise ValueError(f"cycle_decay={cycle_decay!r} must be in (0, 1] (the peak may fall from cycle to cycle, never rise)")
    if not (math.isfinite(cycle_warmup_steps) and 0 <= cycle_warmup_steps < cycle_steps):
        raise ValueError(f"cycle_warmup_steps={cycle_warmup_steps!r} must be >= 0 and < cycle_steps={cycle_steps!r}")

    def make_cycle(i: int, length: float) -> Schedule:
        peak = base_lr * cycle_decay**i
        floor = min(final_lr, peak)
        decay = half_cosine(peak, floor, length - cycle_warmup_steps)
        if not cycle_warmup_steps or floor >= peak:
            return decay
        return with_warmup(decay, cycle_warmup_steps, floor)

    return restarts(make_cycle, cycle_steps, cycle_mult)


# --- warmup compositions --------------------------------------------------------------------------


@register("constant_warmup", family="constant", order=17, colour=(17, 1))
def constant_warmup(base_lr: float, warmup_steps: int, warmup_begin_lr: float = 0.0, warmup_shape: str = "linear") -> Schedule:
    """Warmup from warmup_begin_lr to base_lr over warmup_steps, then base_lr (Goyal et al. 2017)."""
    return with_warmup(constant(base_lr), warmup_steps, warmup_begin_lr, warmup_shape)


@register("warmup_linear", family="warmup + decay", order=12, colour=(12, 1), native=("torch.optim.lr_scheduler.SequentialLR",))
def warmup_linear(base_lr: float, total_steps: int, warmup_steps: int, final_lr: float = 0.0,
                  warmup_begin_lr: float = 0.0, warmup_shape: str = "linear") -> Schedule:
    """BERT's schedule (Devlin et al. 2019; Hugging Face get_linear_schedule_with_warmup):
    linear warmup to base_lr, then linear decay to final_lr at total_steps (the horizon counts
    the warmup).   warmup_linear(1.0, 10, 2): 0, 0.5, 1.0, 0.875, ..., 0 at t=10."""
    if not 0 < warmup_steps < total_steps:
        raise ValueError(f"warmup_steps={warmup_steps!r} must be > 0 and < total_steps={total_steps!r}")
    return with_warmup(linear_decay(base_lr, total_steps - warmup_steps, final_lr), warmup_steps, warmup_begin_lr, warmup_shape)


@register("noam", family="warmup + decay", order=13, colour=(13, 1), aliases=("inverse_sqrt",), native=("torch.optim.lr_scheduler.LambdaLR",))
def noam(base_lr: float, warmup_steps: int, d_model: int | None = None) -> Schedule:
    """Inverse square root with linear warmup (Vaswani et al. 2017, "Attention is all you need", eq. 3):

    lr(t) = scale * min((t+1)**-0.5, (t+1) * warmup_steps**-1.5)

    With d_model, scale = base_lr * d_model**-0.5, as the paper writes it (base_lr is then the
    paper's factor, 1.0; the Annotated Transformer uses 2.0). Without it, base_lr is the peak,
    reached at the warmup_steps-th update (t = warmup_steps - 1): scale = base_lr * warmup_steps**0.5.
    noam(0.01, 100)(99) == 0.01;  noam(0.01, 100)(399) == 0.005
    """
    check_lr("base_lr", base_lr)
    check_length("warmup_steps", warmup_steps)
    if d_model is not None and not (isinstance(d_model, int) and d_model > 0):
        raise ValueError(f"d_model={d_model!r} must be a positive integer")
    scale = base_lr * (d_model**-0.5 if d_model is not None else warmup_steps**0.5)

    def lr_at(t: int) -> float:
        check_t(t)
        return scale * min((t + 1) ** -0.5, (t + 1) * warmup_steps**-1.5)

    return lr_at


@register("wsd", family="warmup + decay", order=16, colour=(16, 1))
def wsd(base_lr: float, total_steps: int, decay_fraction: float = 0.2, decay_shape: str = "1-sqrt", final_lr: float = 0.0,
        warmup_steps: int = 0, warmup_begin_lr: float = 0.0, warmup_shape: str = "linear") -> Schedule:
    """Warmup-stable-decay (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond
    Fixed Training Durations"; Hu et al. 2024, MiniCPM): warmup to base_lr, hold it, and decay to
    final_lr over the last decay_fraction of total_steps (the horizon counts the warmup):

    x = (t - decay_start) / decay_steps in [0, 1], decay_steps = round(decay_fraction * total_steps),
    lr = final + (base - final) * f(x), f = 1 - x (linear) | 1 - sqrt(x) (1-sqrt) | (1 + cos(pi x))/2 (cosine).
    wsd(0.1, 100, 0.2, "linear")(90) == 0.05
    """
    check_lr("base_lr", base_lr)
    check_final_lr(final_lr, base_lr)
    check_length("total_steps", total_steps)
    check_fraction("decay_fraction", decay_fraction, high_open=False)
    check_choice("decay_shape", decay_shape, DECAY_SHAPES)
    decay_steps = max(1, round(decay_fraction * total_steps))
    if not (0 <= warmup_steps and warmup_steps + decay_steps <= total_steps):
        raise ValueError(
            f"warmup_steps={warmup_steps!r} plus the decay's {decay_steps} (decay_fraction={decay_fraction!r}) "
            f"must fit in total_steps={total_steps!r}"
        )
    stable = total_steps - warmup_steps - decay_steps
    shape = {
        "linear": lambda x: 1 - x,
        "1-sqrt": lambda x: 1 - math.sqrt(x),
        "cosine": lambda x: (1 + math.cos(math.pi * x)) / 2,
    }[decay_shape]

    def decay(t: int) -> float:
        check_t(t)
        return final_lr + (base_lr - final_lr) * shape(min(t, decay_steps) / decay_steps)

    after_warmup = join_schedules([constant(base_lr), decay], [stable]) if stable else decay
    return with_warmup(after_warmup, warmup_steps, warmup_begin_lr, warmup_shape) if warmup_steps else after_warmup
