"""Learning-rate (and momentum) schedules as pure functions ``lr_at(t) -> float``.

Each factory validates its arguments (``ValueError`` naming the value) and returns a
closure with no state: calling it twice with the same ``t`` gives the same answer.
``t`` counts epochs or optimizer updates, as the config's ``unit`` says; the first
update uses ``lr_at(0)``. Complex schedules are compositions, as in optax: warmup + cosine is
``with_warmup(cosine(...), warmup_steps)``, i.e. ``join_schedules([ramp, cosine(...)], [warmup_steps])``;
SGDR is ``restarts`` of cosine cycles.

- ``core``: the ``Schedule`` type, checks, ``join_schedules``, ``with_warmup``, ``restarts``;
- ``decays``: the decays (the d2l chapter's among them) and the warmup compositions;
- ``cycles``: one-cycle and cyclical rates, with their momentum schedules;
- ``build``: config parameters to schedules, ``scheduler=sequence``, ``chained``, ``resolve_lengths``;
- ``registry``: ``SCHEDULES``, every schedule's factory and metadata, filled by ``@register`` at
  each factory; everything that lists schedules reads it.

The d2l chapter's schedulers are stateful; these reproduce their intended curves.
``tests/test_schedules.py`` re-implements the chapter's classes and pins each difference;
``tests/test_native_schedules.py`` compares every schedule with the frameworks' own objects.
"""

from harness.schedules.build import (
    FACTORIES,
    HORIZON_KEYS,
    MOMENTUM_FACTORIES,
    SEQUENCE,
    build_momentum_schedule,
    chained,
    build_schedule,
    has_horizon,
    resolve_lengths,
)
from harness.schedules.core import (
    UNITS,
    WARMUP_SHAPES,
    Schedule,
    epoch_learning_rates,
    half_cosine,
    join_schedules,
    linear,
    restarts,
    with_warmup,
)
from harness.schedules.cycles import ANNEALS, CYCLIC_MODES, cyclic, cyclic_momentum, linear_onecycle, onecycle, onecycle_momentum
from harness.schedules.decays import (
    DECAY_SHAPES,
    constant,
    constant_warmup,
    cosine,
    cosine_restarts,
    exponential,
    factor_decay,
    inverse_time,
    linear_decay,
    multi_factor,
    noam,
    piecewise_constant,
    polynomial,
    sqrt_decay,
    step_decay,
    warmup_cosine,
    warmup_linear,
    wsd,
)
from harness.schedules.registry import SCHEDULES, ScheduleInfo, in_order, option_order, parameters, register

epoch_values = epoch_learning_rates  # the same per-update expansion, for a momentum schedule

__all__ = [name for name in dir() if not name.startswith("_")]
