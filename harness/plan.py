"""The per-update plan of a run: the rate (and the momentum, when a schedule varies it) of
every update, from the config. Framework-free; the runner, ``validate`` and ``plot-schedule``
all build it here, so they agree on every derived length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.errors import HarnessError
from harness.schedules import (
    Schedule,
    build_momentum_schedule,
    build_schedule,
    epoch_learning_rates,
    has_horizon,
    resolve_lengths,
)

FAR_LONGER = 2.0  # a horizon this many times the run's length earns a warning


def updates_per_epoch(cfg, n_train: int | None = None) -> int:
    """Optimizer updates per epoch (the last, smaller batch counts, as the runner's loop does)."""
    if n_train is None:
        from harness.schema import max_train_images

        most = max_train_images(cfg.data)
        n_train = min(cfg.data.train_size or most, most)
    return math.ceil(n_train / cfg.batch_size)


def schedule_params(cfg, n_train: int | None = None) -> dict:
    """The schedule's factory parameters with every length left unset derived from the run
    (``harness.schedules.resolve_lengths``): what the run uses and records in ``_config.yaml``."""
    from harness.schema import SchedulerConfig

    params = SchedulerConfig.factory_params(cfg.scheduler)
    return resolve_lengths(cfg.scheduler.kind, params, cfg.scheduler.unit, cfg.epochs, updates_per_epoch(cfg, n_train))


@dataclass
class Plan:
    params: dict  # the factory parameters, derived lengths filled in
    unit: str
    updates_per_epoch: int
    lr_at: Schedule
    momentum_at: Schedule | None  # None: the optimizer's constant momentum

    def learning_rates(self, epoch: int) -> np.ndarray:
        return epoch_learning_rates(self.lr_at, self.unit, epoch, self.updates_per_epoch)

    def momenta(self, epoch: int) -> np.ndarray | None:
        """One momentum (beta1) per update of ``epoch``, or None when it stays constant."""
        if self.momentum_at is None:
            return None
        return epoch_learning_rates(self.momentum_at, self.unit, epoch, self.updates_per_epoch)


def build_plan(cfg, n_train: int | None = None) -> Plan:
    """Raises ValueError (naming the value) for a schedule that cannot be built."""
    params = schedule_params(cfg, n_train)
    kind = cfg.scheduler.kind
    return Plan(params, cfg.scheduler.unit, updates_per_epoch(cfg, n_train), build_schedule(kind, params),
                build_momentum_schedule(kind, params))


def check_schedule(cfg) -> None:
    """Validation of the schedule for ``harness.validate``: it builds, and a schedule that
    cycles momentum has an optimizer with momentum to cycle."""
    try:
        plan = build_plan(cfg)
    except ValueError as exc:
        raise HarnessError(f"scheduler={cfg.scheduler.name}: {exc}") from None
    if plan.momentum_at is not None and not has_momentum(cfg.optimizer):
        if cfg.optimizer.name == "schedule_free_adamw":  # a beta1, but no momentum (OptimizerSpec.momentum_name)
            why = ("optimizer=schedule_free_adamw's beta1 is its averaging, not a momentum to cycle; "
                   "set scheduler.cycle_momentum=false")
        else:
            why = (f"optimizer={cfg.optimizer.name} with momentum={cfg.optimizer.get('momentum', 0)} has none to "
                   f"cycle; set optimizer.momentum=0.9, or scheduler.cycle_momentum=false")
        raise HarnessError(f"scheduler={cfg.scheduler.name} cycles momentum (scheduler.cycle_momentum=true) but {why}")


def _momentum_of(optimizer_cfg):
    """The optimizer's momentum rule (``OptimizerSpec.momentum_name``: beta1 for Adam-family
    optimizers, SGD's and RMSprop's momentum when it is > 0), without building the whole spec."""
    from harness.optimizers import OptimizerSpec

    return OptimizerSpec(name=optimizer_cfg.name, momentum=float(optimizer_cfg.get("momentum") or 0.0),
                         beta1=float(optimizer_cfg.get("beta1", 0.9)))


def constant_momentum(optimizer_cfg) -> float:
    """The momentum an optimizer holds when no schedule varies it (beta1 for Adam-family
    optimizers, 0 for plain SGD); recorded in the ``momentum`` column."""
    return float(_momentum_of(optimizer_cfg).constant_momentum)


def has_momentum(optimizer_cfg) -> bool:
    """Whether the optimizer has a momentum (or beta1) for a schedule to cycle."""
    return _momentum_of(optimizer_cfg).momentum_name is not None


def horizon_warning(cfg) -> str | None:
    """A sentence when the schedule's horizon is far longer than the run (it would stop early on
    its curve: ``scheduler.total_steps=7050`` with unit=epoch), else None."""
    kind, unit = cfg.scheduler.kind, cfg.scheduler.unit
    if not has_horizon(kind):
        return None
    horizon = schedule_params(cfg).get("total_steps")
    run_length = cfg.epochs if unit == "epoch" else cfg.epochs * updates_per_epoch(cfg)
    if horizon is None or horizon <= FAR_LONGER * run_length:
        return None
    what = ("epoch" if unit == "epoch" else "update") + ("" if run_length == 1 else "s")
    return (
        f"scheduler={cfg.scheduler.name}: total_steps={horizon} is {horizon / run_length:.1f}x the run's "
        f"{run_length} {what} (unit={unit}), so the run stops at {100 * run_length / horizon:.2g} % of the "
        f"schedule; set scheduler.total_steps=null to follow epochs"
    )
