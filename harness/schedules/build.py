"""From config parameters to schedules: the registry, the generic warmup, ``scheduler=sequence``,
and the one function that derives a length left unset (``resolve_lengths``)."""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

from harness.plateau import plateau
from harness.schedules import cycles, decays  # noqa: F401  (their factories register themselves)
from harness.schedules.core import Schedule, check_lr, join_schedules, with_warmup
from harness.schedules.registry import in_order, parameters, register

SEQUENCE = "sequence"
# Metric-driven: the factory validates its keys and gives the rate before any reduction; the
# runner holds the state (harness/plateau.py, which imports nothing of this package).
register("plateau", family="adaptive", order=19, colour=(19, 1), zoo=False,
         native=("torch.optim.lr_scheduler.ReduceLROnPlateau",))(plateau)
WARMUP_KEYS = ("warmup_steps", "warmup_begin_lr", "warmup_shape")
# A horizon shared by a sweep (`-m scheduler=constant,cosine scheduler.total_steps=20`): the
# schedules that have one use it, the others ignore it.
HORIZON_KEYS = ("total_steps",)


def _keyword_factories() -> dict[str, Callable[..., Schedule]]:
    return {info.kind: info.factory for info in in_order() if info.kind != SEQUENCE}


def _accepted(kind: str) -> dict:
    return dict(inspect.signature(FACTORIES[kind]).parameters) if kind in FACTORIES else parameters(kind)


def has_horizon(kind: str) -> bool:
    """Whether the schedule is defined by its length (``total_steps``)."""
    return kind == SEQUENCE or (kind in FACTORIES and "total_steps" in _accepted(kind))


def resolve_lengths(kind: str, params: dict, unit: str, epochs: int, updates_per_epoch: int) -> dict:
    """``params`` with an unset ``total_steps`` derived from the run: ``epochs`` for unit=epoch,
    ``epochs * updates_per_epoch`` for unit=step. Only for schedules defined by their length
    (onecycle, wsd, polynomial, linear_decay, cosine, ..., and a sequence's last phase); the
    others are returned unchanged. Pure; the runner, validation and plot-schedule all call it."""
    resolved = dict(params)
    if has_horizon(kind) and resolved.get("total_steps") is None:
        resolved["total_steps"] = epochs if unit == "epoch" else epochs * updates_per_epoch
    return resolved


def _prepare(kind: str, params: dict) -> tuple[dict, dict]:
    """The factory's own arguments, and the generic warmup's (empty when there is none)."""
    if kind not in FACTORIES:
        raise ValueError(f"kind={kind!r} is not a schedule; known: {', '.join([*FACTORIES, SEQUENCE])}")
    accepted = _accepted(kind)
    given = {k: v for k, v in params.items() if v is not None}
    for key in HORIZON_KEYS:
        if key not in accepted:
            given.pop(key, None)
    warmup = {}
    if "warmup_steps" not in accepted:  # the factory has no warmup of its own: wrap it
        warmup = {k: given.pop(k) for k in WARMUP_KEYS if k in given}
        if warmup and not warmup.get("warmup_steps"):
            if set(warmup) - {"warmup_steps"}:
                raise ValueError(f"{sorted(set(warmup) - {'warmup_steps'})} need warmup_steps > 0")
            warmup = {}
    unexpected = sorted(set(given) - set(accepted))
    if unexpected:
        close = difflib.get_close_matches(unexpected[0], list(accepted), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{kind} schedule does not take {unexpected}{hint}; it takes {list(accepted)}")
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in given]
    if missing:
        raise ValueError(f"{kind} schedule needs {missing}")
    if warmup and "total_steps" in given:  # the horizon counts the warmup, as in `warmup`
        if not 0 < warmup["warmup_steps"] < given["total_steps"]:
            raise ValueError(f"warmup_steps={warmup['warmup_steps']!r} must be > 0 and < total_steps={given['total_steps']!r}")
        given["total_steps"] -= warmup["warmup_steps"]
    return given, warmup


def build_schedule(kind: str, params: dict) -> Schedule:
    """Build a registered schedule from config parameters (keys set to None are dropped).

    ``warmup_steps`` (with ``warmup_begin_lr``, ``warmup_shape``) puts a warmup in front of a
    schedule that has none of its own; its ``total_steps`` then counts the warmup.
    """
    if kind == SEQUENCE:
        given = {k: v for k, v in params.items() if v is not None}
        unexpected = sorted(set(given) - set(_accepted(SEQUENCE)))
        if unexpected:
            raise ValueError(f"sequence schedule does not take {unexpected}; it takes {', '.join(_accepted(SEQUENCE))} "
                             "(give a phase its own warmup, e.g. kind: constant_warmup)")
        return sequence(**given)
    given, warmup = _prepare(kind, params)
    schedule = FACTORIES[kind](**given)
    return with_warmup(schedule, **warmup) if warmup else schedule


def build_momentum_schedule(kind: str, params: dict) -> Schedule | None:
    """The momentum (or beta1) schedule of ``kind``, or None when momentum stays the optimizer's."""
    if kind not in MOMENTUM_FACTORIES:
        return None
    given, warmup = _prepare(kind, params)
    factory = MOMENTUM_FACTORIES[kind]
    accepted = inspect.signature(factory).parameters
    momentum_at = factory(**{k: v for k, v in given.items() if k in accepted})
    if momentum_at is None or not warmup:
        return momentum_at
    hold = momentum_at(0)  # during a generic warmup the momentum waits at its first value
    return join_schedules([lambda t: hold, momentum_at], [warmup["warmup_steps"]])


@register(SEQUENCE, family="other", order=18, colour=(18, 1))
def sequence(phases: list | None = None, boundaries: list | None = None, base_lr: float | None = None,
             total_steps: int | None = None) -> Schedule:
    """``scheduler=sequence``: phases (each a schedule's parameters with its ``kind``) joined at
    ``boundaries``; each phase runs on its own clock, inherits ``base_lr`` when it gives none, and
    a phase defined by its length gets the phase's length when it gives none."""
    boundaries = [int(b) for b in boundaries or []]
    if not phases:
        raise ValueError("sequence schedule needs phases: a list of schedules, each with its kind")
    if len(phases) != len(boundaries) + 1:
        raise ValueError(f"{len(phases)} phases need {len(phases) - 1} boundaries, got boundaries={boundaries}")
    ends = [*boundaries, total_steps]
    starts = [0, *boundaries]
    schedules = []
    for i, phase in enumerate(phases):
        phase = dict(phase)
        phase_kind = phase.pop("kind", None)
        if phase_kind is None or phase_kind == SEQUENCE:
            raise ValueError(f"phases[{i}] needs a kind (one of {', '.join(FACTORIES)})")
        if base_lr is not None and phase.get("base_lr") is None:
            phase["base_lr"] = base_lr
        if has_horizon(phase_kind) and phase.get("total_steps") is None and ends[i] is not None:
            phase["total_steps"] = ends[i] - starts[i]
        try:
            schedules.append(build_schedule(phase_kind, phase))
        except ValueError as exc:
            raise ValueError(f"phases[{i}] ({phase_kind}): {exc}") from None
    return join_schedules(schedules, boundaries)


@register("chained", family="other", order=17.5, native=("torch.optim.lr_scheduler.ChainedScheduler",))
def chained(base_lr: float, factors: list, total_steps: int | None = None) -> Schedule:
    """Multiplicative composition (torch ChainedScheduler): lr(t) = base_lr * f_1(t) * f_2(t) * ...,
    each factor a schedule's parameters with its ``kind``, built with ``base_lr`` 1 when it gives
    none (a factor), all on the same clock; a factor defined by its length gets ``total_steps``
    when it gives none. A warmup factor times a decay:
    chained(0.3, [{"kind": "constant_warmup", "base_lr": 1.0, "warmup_steps": 5, "warmup_begin_lr": 0.1},
                  {"kind": "exponential", "gamma": 0.9}])(5) == 0.3 * 0.9**5
    """
    check_lr("base_lr", base_lr)
    if not factors:
        raise ValueError("chained schedule needs factors: a list of schedules, each with its kind")
    built = []
    for i, factor in enumerate(factors):
        factor = dict(factor)
        kind = factor.pop("kind", None)
        if kind is None or kind == SEQUENCE or kind == "plateau":
            raise ValueError(f"factors[{i}] needs a kind (one of {', '.join(k for k in FACTORIES if k != 'plateau')})")
        factor.setdefault("base_lr", 1.0)
        if has_horizon(kind) and factor.get("total_steps") is None:
            factor["total_steps"] = total_steps
        try:
            built.append(build_schedule(kind, factor))
        except ValueError as exc:
            raise ValueError(f"factors[{i}] ({kind}): {exc}") from None

    def lr_at(t: int) -> float:
        value = float(base_lr)
        for f in built:
            value *= f(t)
        return value

    return lr_at


# Every registered schedule, in report order; ``sequence`` is built from phases (``build_schedule``).
FACTORIES: dict[str, Callable[..., Schedule]] = _keyword_factories()
# Kinds whose momentum (beta1 for Adam-family optimizers) follows a schedule of its own.
MOMENTUM_FACTORIES: dict[str, Callable[..., Schedule | None]] = {
    info.kind: info.momentum for info in in_order() if info.momentum is not None}
