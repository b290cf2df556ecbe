"""Reduce-on-plateau: explicit state and a pure ``update(state, metric, params)``.

The one schedule that reacts to what training does. Its state lives in the runner, which
feeds it the monitored metric after each epoch and computes the next epoch's rates from it, and
in the checkpoint file, so a killed plateau run resumes to the same results.

Semantics are PyTorch's ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (same names: ``mode``,
``factor``, ``patience``, ``threshold``, ``threshold_mode``, ``cooldown``, ``min_lr``, ``eps``):
after an epoch, the metric is *better* if it beats the best so far by more than ``threshold``
(``rel``: ``metric < best * (1 - threshold)`` in mode min; ``abs``: ``metric < best - threshold``);
a worse epoch counts as bad (none count during a cooldown); once more than ``patience`` bad
epochs have passed, the rate is multiplied by ``factor`` (never below ``min_lr``, and not at all
if the change would be smaller than ``eps``), and a ``cooldown`` of that many epochs starts.
tests/test_plateau.py checks our rates against torch's class and Keras's callback (whose
``patience`` counts one more epoch and whose ``min_delta`` is absolute) on the same metrics.

``warmup_steps`` composes: the rate ramps linearly from ``warmup_begin_lr`` to ``base_lr``
(in ``unit``s, as ``scheduler=warmup``), and the metrics of epochs that began inside the warmup
are not fed to the state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from harness.errors import HarnessError

MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")
# What a plateau may monitor; the test set chooses nothing, so test_* is never allowed.
MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")
DEFAULT_MONITOR = "val_loss"
EPS = 1e-8  # torch's default: a reduction smaller than this is skipped


@dataclass(frozen=True)
class PlateauParams:
    base_lr: float
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    mode: str = "min"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = EPS


@dataclass(frozen=True)
class PlateauState:
    lr: float
    best: float
    num_bad_epochs: int = 0
    cooldown_counter: int = 0
    last_epoch: int = 0  # metrics fed so far

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "PlateauState":
        return PlateauState(float(values["lr"]), float(values["best"]), int(values["num_bad_epochs"]),
                            int(values["cooldown_counter"]), int(values["last_epoch"]))


def initial_state(params: PlateauParams) -> PlateauState:
    return PlateauState(lr=params.base_lr, best=math.inf if params.mode == "min" else -math.inf)


def is_better(metric: float, best: float, params: PlateauParams) -> bool:
    if params.mode == "min":
        bar = best * (1 - params.threshold) if params.threshold_mode == "rel" else best - params.threshold
        return metric < bar
    bar = best * (1 + params.threshold) if params.threshold_mode == "rel" else best + params.threshold
    return metric > bar


def update(state: PlateauState, metric: float, params: PlateauParams) -> PlateauState:
    """The state after one epoch whose monitored value was ``metric`` (torch's ``step``)."""
    best, bad, cooldown, lr = state.best, state.num_bad_epochs + 1, state.cooldown_counter, state.lr
    if is_better(metric, state.best, params):
        best, bad = metric, 0
    if cooldown > 0:
        cooldown, bad = cooldown - 1, 0
    if bad > params.patience:
        reduced = max(lr * params.factor, params.min_lr)
        if lr - reduced > params.eps:
            lr = reduced
        cooldown, bad = params.cooldown, 0
    return replace(state, lr=lr, best=best, num_bad_epochs=bad, cooldown_counter=cooldown,
                   last_epoch=state.last_epoch + 1)


def rates(state: PlateauState, unreduced: np.ndarray) -> np.ndarray:
    """An epoch's per-update rates: the warmup ramp (or base_lr) capped by the state's rate."""
    return np.minimum(unreduced, state.lr)


def feeds(epoch: int, unit: str, updates_per_epoch: int, warmup_steps: int | None) -> bool:
    """Whether the metric of ``epoch`` goes to the state (not when the epoch began in warmup)."""
    if not warmup_steps:
        return True
    first = epoch if unit == "epoch" else epoch * updates_per_epoch
    return first >= warmup_steps


def plateau(base_lr: float, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
            threshold_mode: str = "rel", mode: str = "min", cooldown: int = 0, min_lr: float = 0.0,
            monitor: str | None = None, warmup_steps: int | None = None, warmup_begin_lr: float | None = None):
    """The schedule factory (``harness.schedules.FACTORIES["plateau"]``): validates the keys and
    returns the rate before any reduction, ``lr_at(t)``: the warmup ramp, then ``base_lr``."""
    params_of(dict(base_lr=base_lr, factor=factor, patience=patience, threshold=threshold,
                   threshold_mode=threshold_mode, mode=mode, cooldown=cooldown, min_lr=min_lr))
    check_monitor(monitor or DEFAULT_MONITOR)
    if warmup_steps is not None and warmup_steps <= 0:
        raise ValueError(f"{warmup_steps=} must be positive (or null for no warmup)")
    begin = warmup_begin_lr or 0.0

    def lr_at(t: int) -> float:
        if warmup_steps and t < warmup_steps:
            return begin + (base_lr - begin) * t / warmup_steps
        return base_lr

    return lr_at


def params_of(scheduler: dict) -> PlateauParams:
    """PlateauParams from the scheduler config's keys (None: torch's default); ValueError on bad ones."""
    given = {k: scheduler[k] for k in ("base_lr", "factor", "patience", "threshold", "threshold_mode", "mode",
                                       "cooldown", "min_lr") if scheduler.get(k) is not None}
    params = PlateauParams(**given)
    if not (math.isfinite(params.base_lr) and params.base_lr > 0):
        raise ValueError(f"base_lr={params.base_lr} must be a positive finite learning rate")
    if not 0 < params.factor < 1:
        raise ValueError(f"factor={params.factor} must be in (0, 1): a plateau multiplies the rate by it")
    if params.patience < 0 or params.cooldown < 0:
        raise ValueError(f"patience={params.patience} and cooldown={params.cooldown} must be >= 0")
    if params.threshold < 0:
        raise ValueError(f"threshold={params.threshold} must be >= 0")
    if params.mode not in MODES:
        raise ValueError(f"mode={params.mode!r} must be one of {', '.join(MODES)}")
    if params.threshold_mode not in THRESHOLD_MODES:
        raise ValueError(f"threshold_mode={params.threshold_mode!r} must be one of {', '.join(THRESHOLD_MODES)}")
    if params.min_lr < 0:
        raise ValueError(f"min_lr={params.min_lr} must be >= 0")
    return params


def check_monitor(monitor: str) -> None:
    if monitor.startswith("test_"):
        raise ValueError(f"monitor={monitor!r}: the test set chooses nothing; monitor val_loss "
                         f"(with data.val_size) or train_loss")
    if monitor not in MONITORS:
        raise ValueError(f"monitor={monitor!r} is unknown; choose one of {', '.join(MONITORS)}")


def monitor_of(scheduler) -> str:
    return scheduler.get("monitor") or DEFAULT_MONITOR


def check(cfg) -> None:
    """The config checks of the validation split and of scheduler=plateau (called by
    ``harness.validate``); raise HarnessError naming the value and the fix."""
    val_size = cfg.data.get("val_size")
    if val_size is not None:
        from harness.schema import split_images

        total = split_images(cfg.data, "train")
        if not 0 < val_size < total:
            raise HarnessError(f"data.val_size={val_size} must be between 1 and {total - 1} images (or null for no split)")
        left = total - val_size
        if cfg.data.train_size is not None:
            left = min(left, cfg.data.train_size)
        if left < cfg.batch_size:
            raise HarnessError(
                f"data.val_size={val_size} leaves {left} training image{'' if left == 1 else 's'}, fewer than one batch "
                f"(batch_size={cfg.batch_size}); lower data.val_size or batch_size"
            )
    if cfg.scheduler.kind != "plateau":
        return
    monitor = monitor_of(cfg.scheduler)
    try:
        check_monitor(monitor)
    except ValueError as exc:
        raise HarnessError(f"scheduler=plateau: {exc}") from None
    if monitor.startswith("val_") and val_size is None:
        raise HarnessError(f"scheduler=plateau monitors {monitor} but there is no validation split; set "
                           f"data.val_size (e.g. data.val_size=10000) or scheduler.monitor=train_loss")
