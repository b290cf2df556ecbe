"""From config parameters to schedules: the registry, the generic warmup, ``scheduler=sequence``,
and the one function that derives a length left unset (``resolve_lengths``)."""

from __future__ import annotations

import inspect
from typing import Callable

from harness.plateau import plateau
from harness.schedules import cycles, decays
from harness.schedules.core import Schedule, join_schedules, with_warmup

FACTORIES: dict[str, Callable[..., Schedule]] = {
    "constant": decays.constant,
    "sqrt": decays.sqrt_decay,
    "factor": decays.factor_decay,
    "multifactor": decays.multi_factor,
    "cosine": decays.cosine,
    "warmup_cosine": decays.warmup_cosine,
    "step": decays.step_decay,
    "exponential": decays.exponential,
    "inverse_time": decays.inverse_time,
    "polynomial": decays.polynomial,
    "linear_decay": decays.linear_decay,
    "cosine_restarts": decays.cosine_restarts,
    "warmup_linear": decays.warmup_linear,
    "constant_warmup": decays.constant_warmup,
    "noam": decays.noam,
    "wsd": decays.wsd,
    "onecycle": cycles.onecycle,
    "cyclic": cycles.cyclic,
    # Metric-driven: the factory validates its keys and gives the rate before any reduction;
    # the runner holds the state (harness/plateau.py).
    "plateau": plateau,
}
# Kinds whose momentum (beta1 for Adam-family optimizers) follows a schedule of its own.
MOMENTUM_FACTORIES: dict[str, Callable[..., Schedule | None]] = {
    "onecycle": cycles.onecycle_momentum,
    "cyclic": cycles.cyclic_momentum,
}
SEQUENCE = "sequence"
WARMUP_KEYS = ("warmup_steps", "warmup_begin_lr", "warmup_shape")
# A horizon shared by a sweep (`-m scheduler=constant,cosine scheduler.total_steps=20`): the
# schedules that have one use it, the others ignore it.
HORIZON_KEYS = ("total_steps",)


def _accepted(kind: str) -> dict:
    return dict(inspect.signature(FACTORIES[kind]).parameters)


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
        raise ValueError(f"{kind} schedule does not take {unexpected}; it takes {list(accepted)}")
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
        return _sequence(params)
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


def _sequence(params: dict) -> Schedule:
    """``scheduler=sequence``: phases (each a schedule's parameters with its ``kind``) joined at
    ``boundaries``; each phase runs on its own clock, inherits ``base_lr`` when it gives none, and
    a phase defined by its length gets the phase's length when it gives none."""
    given = {k: v for k, v in params.items() if v is not None}
    phases, boundaries = given.pop("phases", None), [int(b) for b in given.pop("boundaries", None) or []]
    base_lr, total_steps = given.pop("base_lr", None), given.pop("total_steps", None)
    if given:
        raise ValueError(f"sequence schedule does not take {sorted(given)}; it takes phases, boundaries, base_lr, total_steps "
                         "(give a phase its own warmup, e.g. kind: constant_warmup)")
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
