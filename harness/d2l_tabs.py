"""``protocol=d2l``: each framework reproduces its own tab of the d2l chapter, quirks included.

The chapter (d2l-ai/d2l-en, chapter_optimization/lr-scheduler.md, release 1.0.3) has three
framework tabs that do not run the same experiment:

- **PyTorch**: default PyTorch initialisation; the rate is changed *after* each epoch with
  ``lr = scheduler(epoch)``, so epoch 0 runs at the optimizer's initial rate and epoch k at
  ``scheduler(k - 1)`` (the warmup run trains epoch 0 at 0.3, epoch 1 at 0, then 0.06, ...).
  Multi-factor uses ``MultiStepLR(milestones=[15, 30], gamma=0.5)``, which the plotting cell
  had already stepped 30 times: training runs at 0.125 throughout.
- **TensorFlow**: a different network (average pooling, sigmoid after the 84-unit layer; see
  ``conf/model/lenet_d2l_tf.yaml``), Glorot initialisation, Keras ``LearningRateScheduler``
  calling ``scheduler(epoch)`` at the start of each epoch. Its multi-factor class is stateful
  and the plotting cell had already applied the first drop: 0.25 for epochs 0-14, then 0.125.
- **MXNet**: Xavier initialisation; the schedule goes to ``gluon.Trainer``, which calls it
  with the update count at *every minibatch*, and the count is incremented before the call,
  so update k (0-based) uses ``scheduler(k + 1)``. With horizons written in epochs (20), the
  cosine and warmup schedules end inside the first epoch and train at 0.01 afterwards; the
  square-root schedule decays to about 0.001; multi-factor drops to 0.125 after update 30.
- The factor scheduler is plotted but never trained in any tab.

Every tab's schedulers were called for t = 0..29 by a plotting cell before training, and
several are stateful, so we replay exactly that: the chapter's classes (and MXNet 1.9.1's
``MultiFactorScheduler`` / ``CosineScheduler``) re-implemented below, called in the same
order as the chapter's code. The result is a plain array with one rate per update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.frameworks import FRAMEWORKS

TABS = tuple(name for name, fw in FRAMEWORKS.items() if fw.d2l_tab)
PLOT_CALLS = 30  # the plotting cells evaluated each scheduler at t = 0, ..., 29
INIT_BY_TAB = {"torch": "torch_default", "tf": "xavier_uniform", "mxnet": "xavier_uniform"}
MODEL_BY_TAB = {"torch": "lenet", "tf": "lenet_d2l_tf", "mxnet": "lenet"}
TRAINED_KINDS = ("constant", "sqrt", "multifactor", "cosine", "warmup_cosine")  # schedule kinds


class _StatefulCosine:
    """d2l's CosineScheduler (PyTorch and TF tabs) and MXNet's: both store the last value
    computed inside the horizon and return it for any later t."""

    def __init__(self, max_update, base_lr, final_lr, warmup_steps=0, warmup_begin_lr=0.0):
        self.base_lr_orig, self.base_lr = base_lr, base_lr
        self.max_update, self.final_lr = max_update, final_lr
        self.warmup_steps, self.warmup_begin_lr = warmup_steps, warmup_begin_lr
        self.max_steps = max_update - warmup_steps

    def __call__(self, t):
        if t < self.warmup_steps:
            return self.warmup_begin_lr + (self.base_lr_orig - self.warmup_begin_lr) * t / self.warmup_steps
        if t <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * (
                1 + math.cos(math.pi * (t - self.warmup_steps) / self.max_steps)
            ) / 2
        return self.base_lr


class _TFTabMultiFactor:
    """The TF tab's own class: multiplies its stored rate whenever it is called with a milestone."""

    def __init__(self, step, factor, base_lr):
        self.step, self.factor, self.base_lr = step, factor, base_lr

    def __call__(self, epoch):
        if epoch in self.step:
            self.base_lr = self.base_lr * self.factor
        return self.base_lr


class _MXNetMultiFactor:
    """mxnet.lr_scheduler.MultiFactorScheduler (1.9.1): drops once num_update > step[i]."""

    def __init__(self, step, factor, base_lr):
        self.step, self.factor, self.base_lr, self.cur_step_ind = step, factor, base_lr, 0

    def __call__(self, num_update):
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.cur_step_ind += 1
            self.base_lr *= self.factor
        return self.base_lr


def _sqrt(p):
    return lambda t: p["base_lr"] * (t + 1.0) ** -0.5


def _cosine(p):
    return _StatefulCosine(p["total_steps"], p["base_lr"], p["final_lr"],
                           p.get("warmup_steps") or 0, p.get("warmup_begin_lr") or 0.0)


def _plotted(scheduler):
    """The chapter plotted every scheduler over t = 0..29 before training with it."""
    for t in range(PLOT_CALLS):
        scheduler(t)
    return scheduler


def _plotted_scheduler(name: str, p: dict, multifactor=None):
    """The tab's stateful sqrt, cosine (warmup included) or multi-factor scheduler, as the
    plotting cell left it; ``multifactor`` is the tab's multi-factor class."""
    if name == "multifactor":
        return _plotted(multifactor(list(p["milestones"]), p["factor"], p["base_lr"]))
    return _plotted(_sqrt(p) if name == "sqrt" else _cosine(p))


def _torch_epochs(name: str, p: dict, epochs: int) -> list[float]:
    if name == "constant":
        return [p["base_lr"]] * epochs
    if name == "multifactor":
        # MultiStepLR after 30 plotting steps, then one step per epoch: rate at step L is
        # base * gamma ** (milestones <= L).
        return [p["base_lr"] * p["factor"] ** sum(m <= PLOT_CALLS + e for m in p["milestones"]) for e in range(epochs)]
    scheduler = _plotted_scheduler(name, p)
    # Epoch 0 runs at the optimizer's initial rate (the chapter passes base_lr to SGD);
    # scheduler(e) is applied after epoch e.
    return [p["base_lr"]] + [scheduler(e - 1) for e in range(1, epochs)]


def _tf_epochs(name: str, p: dict, epochs: int) -> list[float]:
    if name == "constant":
        return [p["base_lr"]] * epochs
    scheduler = _plotted_scheduler(name, p, _TFTabMultiFactor)
    return [scheduler(e) for e in range(epochs)]  # LearningRateScheduler: at each epoch's start


def _mxnet_updates(name: str, p: dict, updates: int) -> list[float]:
    if name == "constant":
        return [p["base_lr"]] * updates
    scheduler = _plotted_scheduler(name, p, _MXNetMultiFactor)
    return [scheduler(k + 1) for k in range(updates)]  # the count is incremented before the call


def tab_learning_rates(framework: str, kind: str, params: dict[str, Any], epochs: int, steps_per_epoch: int) -> np.ndarray:
    """The rate of every update of a whole run, shape (epochs * steps_per_epoch,), as the tab ran it.

    ``kind`` is the schedule's kind (constant, sqrt, multifactor, cosine, warmup_cosine);
    ``params`` its hyperparameters (base_lr, final_lr, total_steps, warmup_steps, factor, milestones).
    """
    if framework not in TABS:
        raise ValueError(f"framework={framework!r} has no d2l tab; known: {', '.join(TABS)}")
    if kind not in TRAINED_KINDS:
        raise ValueError(
            f"the {kind} schedule was never trained in the d2l chapter (protocol=d2l knows "
            f"{', '.join(TRAINED_KINDS)}); use protocol=clean"
        )
    scheduler = "warmup" if kind == "warmup_cosine" else kind
    if framework == "mxnet":
        return np.array(_mxnet_updates(scheduler, params, epochs * steps_per_epoch), dtype=np.float64)
    per_epoch = _torch_epochs(scheduler, params, epochs) if framework == "torch" else _tf_epochs(scheduler, params, epochs)
    return np.repeat(np.array(per_epoch, dtype=np.float64), steps_per_epoch)


def tab_unit(framework: str) -> str:
    """What the tab's schedule counts: MXNet's Trainer calls it every update, the others per epoch."""
    return "step" if framework == "mxnet" else "epoch"
