"""The plan of a run: the rate (and the momentum, when a schedule varies it) of every update,
from the config, and whatever state decides them. Framework-free; the runner, ``validate`` and
``plot-schedule`` all build it here, so they agree on every derived length.

Three plans, one contract (``rates``, ``momenta``, ``observe``, ``state``/``restore``), so the
runner's epoch loop has no branch for any of them:

- ``Plan``: a fixed schedule (every kind but plateau), a pure function of the update's index;
- ``D2LTabPlan``: protocol=d2l, the rates as the d2l chapter's tab of one framework ran them;
- ``PlateauPlan``: reduce-on-plateau, whose next rates depend on the epochs it has observed and
  whose state goes into every checkpoint.

The checks and warnings built on a plan live in ``harness.plan_checks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness import d2l_tabs, plateau
from harness.schedules import Schedule, build_momentum_schedule, build_schedule, epoch_learning_rates, resolve_lengths


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
    """A fixed schedule: every update's rate (and momentum) known before training starts."""

    params: dict  # the factory parameters, derived lengths filled in
    unit: str  # what the schedule's t counts: epoch or step
    updates_per_epoch: int
    lr_at: Schedule
    momentum_at: Schedule | None  # None: the optimizer's constant momentum

    @property
    def trained_unit(self) -> str:
        """What t counted in the rates that train (the ``unit`` column)."""
        return self.unit

    def learning_rates(self, epoch: int) -> np.ndarray:
        """The schedule's rate for each update of ``epoch``."""
        return epoch_learning_rates(self.lr_at, self.unit, epoch, self.updates_per_epoch)

    def rates(self, epoch: int) -> np.ndarray:
        """The rate each update of ``epoch`` trains at, given what the plan has observed."""
        return self.learning_rates(epoch)

    def momenta(self, epoch: int) -> np.ndarray | None:
        """One momentum (beta1) per update of ``epoch``, or None when it stays constant."""
        if self.momentum_at is None:
            return None
        return epoch_learning_rates(self.momentum_at, self.unit, epoch, self.updates_per_epoch)

    def observe(self, epoch: int, row: dict) -> None:
        """The finished epoch's row (its measured losses and accuracies); a fixed schedule ignores it."""

    def state(self) -> dict | None:
        """What a checkpoint must hold to resume the plan (None: nothing, the plan is fixed)."""
        return None

    def restore(self, state: dict | None) -> None:
        """Continue from a checkpoint's ``state()``."""


@dataclass
class D2LTabPlan(Plan):
    """protocol=d2l: the rates as the framework's d2l tab ran them (its own schedule class, and
    MXNet's per-update stepping), computed for the whole run at once; momentum is never varied."""

    framework: str
    tab_rates: np.ndarray  # (epochs, updates per epoch)

    @property
    def trained_unit(self) -> str:
        return d2l_tabs.tab_unit(self.framework)  # MXNet's Trainer steps its schedule every update

    def rates(self, epoch: int) -> np.ndarray:
        return self.tab_rates[epoch]

    def momenta(self, epoch: int) -> None:
        return None


@dataclass
class PlateauPlan(Plan):
    """scheduler=plateau: the warmup ramp (or base_lr) capped by the rate the plateau rule has
    reached, which each observed epoch may lower (PyTorch's ReduceLROnPlateau)."""

    rule: plateau.PlateauParams
    monitor: str  # the row's column the rule watches (val_loss unless scheduler.monitor says)
    warmup_steps: int | None  # epochs that began in warmup are not fed to the rule
    current: plateau.PlateauState

    def rates(self, epoch: int) -> np.ndarray:
        return plateau.rates(self.current, self.learning_rates(epoch))

    def observe(self, epoch: int, row: dict) -> None:
        if plateau.feeds(epoch, self.unit, self.updates_per_epoch, self.warmup_steps):
            self.current = plateau.update(self.current, row[self.monitor], self.rule)

    def state(self) -> dict:
        return self.current.to_dict()

    def restore(self, state: dict | None) -> None:
        if state:
            self.current = plateau.PlateauState.from_dict(state)


def build_plan(cfg, n_train: int | None = None) -> Plan:
    """The run's plan (``n_train``: the training images it really has; None derives them from
    the config). Raises ValueError (naming the value) for a schedule that cannot be built."""
    params = schedule_params(cfg, n_train)
    kind, unit, per_epoch = cfg.scheduler.kind, cfg.scheduler.unit, updates_per_epoch(cfg, n_train)
    fixed = (params, unit, per_epoch, build_schedule(kind, params), build_momentum_schedule(kind, params))
    if cfg.protocol == "d2l":
        tab = d2l_tabs.tab_learning_rates(cfg.framework.name, kind, params, cfg.epochs, per_epoch)
        return D2LTabPlan(*fixed, framework=cfg.framework.name, tab_rates=tab.reshape(cfg.epochs, per_epoch))
    if kind == "plateau":
        rule = plateau.params_of(params)
        return PlateauPlan(*fixed, rule=rule, monitor=plateau.monitor_of(cfg.scheduler),
                           warmup_steps=cfg.scheduler.warmup_steps, current=plateau.initial_state(rule))
    return Plan(*fixed)


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
