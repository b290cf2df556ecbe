"""The schedule registry: every schedule's kind, factory and metadata, written once, at the factory.

A factory registers itself with ``@register(kind, ...)``; everything else that needs a list of
schedules reads ``SCHEDULES``: the builder (``build.FACTORIES``), the report's families, order and
colours (harness/report/style.py), and the tests that check the zoo presets, the CLI's option lists,
docs/schedules.md's table and the parity tests against the frameworks' own objects. A plain dict
filled at import time (the factories' modules are imported by ``harness.schedules``): no discovery.

The factory's signature is the definition of the schedule's parameters: ``build`` validates the
keys a config gives against it, and ``parameters()`` lists them for the schema's check
(tests/test_schedules.py), the did-you-mean suggestions and the docs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

FAMILIES = ("constant", "step-wise decay", "smooth decay", "cosine", "warmup + decay", "cyclic", "adaptive", "other")


@dataclass(frozen=True)
class ScheduleInfo:
    kind: str  # the config's ``scheduler.kind``
    factory: Callable  # keyword arguments -> a Schedule (``sequence``: the config's parameters as a dict)
    family: str  # one of FAMILIES: the report's small multiples
    order: float  # where the report lists it when nothing else decides (the d2l chapter's first)
    colour: tuple[int, int] | None = None  # (palette index, line style index) in harness/report/style.py; None: a free one
    d2l: bool = False  # a d2l tab (harness/d2l_tabs.py) re-implements it: protocol=d2l can run it
    native: tuple[str, ...] = ()  # framework objects with the same curve, compared in tests/test_*schedul*.py
    aliases: tuple[str, ...] = ()  # other names the report knows it by (config options, older results)
    momentum: Callable | None = None  # its momentum (beta1) schedule, same arguments; None: the optimizer's
    zoo: bool = True  # in experiments/schedule_zoo*.yaml (plateau needs a validation split: not there)


SCHEDULES: dict[str, ScheduleInfo] = {}


def register(kind: str, *, family: str, order: float, **meta) -> Callable[[Callable], Callable]:
    """Decorator: enter the factory in SCHEDULES under ``kind`` and return it unchanged."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is unknown; choose one of {', '.join(FAMILIES)}")

    def enter(factory: Callable) -> Callable:
        if kind in SCHEDULES:
            raise ValueError(f"schedule kind={kind!r} is registered twice")
        SCHEDULES[kind] = ScheduleInfo(kind, factory, family, order, **meta)
        return factory

    return enter


def in_order() -> list[ScheduleInfo]:
    """Every registered schedule, in report order."""
    return sorted(SCHEDULES.values(), key=lambda info: info.order)


def option_order(option: str, kind: str) -> tuple:
    """Where a scheduler option (conf/scheduler/<option>.yaml, building ``kind``) sorts: by its kind's
    report order, the option named after the kind or an alias first, then by name."""
    info = SCHEDULES[kind]
    return info.order, option not in (info.kind, *info.aliases), option


def parameters(kind: str) -> dict[str, inspect.Parameter]:
    """The parameters of ``kind``'s factory (its momentum factory's too): names, defaults, annotations."""
    info = SCHEDULES[kind]
    params = dict(inspect.signature(info.factory).parameters)
    if info.momentum is not None:
        for name, param in inspect.signature(info.momentum).parameters.items():
            params.setdefault(name, param)
    return params
