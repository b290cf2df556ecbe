"""The contract every framework adapter implements, documented once.

An adapter knows one framework and nothing else: it never imports Hydra, never writes
files, never owns a step counter or a schedule. The runner owns epochs, batch order and
the learning rate of every update; the adapter applies exactly what it is given.

Conventions shared by all adapters:

- Weights cross the boundary as numpy float32 arrays in the canonical layout of
  ``harness.model`` (PyTorch's: conv ``(out, in, kh, kw)``, dense ``(out, in)``, flatten in
  C, H, W order). A channel-last framework transposes on the way in and out.
- Images arrive once, as float32 ``(N, 1, 28, 28)`` in [0, 1]; labels as int64. The adapter
  keeps them in memory (on the accelerator when there is one) for the whole run.
- The loss is the mean softmax cross-entropy over a minibatch. The optimizer is the rule of an
  ``harness.optimizers.OptimizerSpec`` (sgd, adam, adamw, adagrad, rmsprop), computed exactly as
  ``docs/optimizers.md`` defines it: the native class where it matches, the framework's own ops
  where it does not. Before update ``i`` its rate is set to ``lrs[i]`` (times the parameter's
  ``lr_mult``) and, when ``momenta`` is given, its momentum (sgd, rmsprop) or beta1 (adam, adamw)
  to ``momenta[i]``.
- Optimizer state crosses the boundary as ``<slot>/<param>`` arrays in canonical layout (slots
  from ``OptimizerSpec.slots()``, e.g. ``exp_avg/2.weight``) plus ``step``, the update count,
  for every rule but sgd: the same keys in every adapter.
- ``train_epoch`` visits ``order`` in consecutive slices of ``batch_size`` (the last one may
  be smaller) and returns sums, not means, so the runner can divide once. Accumulate on the
  device and read back once per epoch; a per-batch host sync is the slowest thing a CPU or
  GPU loop can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from harness.model import ModelSpec
from harness.optimizers import OptimizerSpec


@dataclass
class EpochStats:
    loss_sum: float  # sum over examples of the per-example loss
    correct: int
    count: int
    # The learning rate read back from the optimizer after it was set, one per update;
    # filled only when train_epoch(..., trace_lrs=True), for tests.
    applied_lrs: list[float] = field(default_factory=list)
    # Likewise the momentum (sgd, rmsprop) or beta1 (adam, adamw) the optimizer held at each
    # update (empty for a rule without one), and the rate each parameter received (its lr_mult
    # included), canonical name -> one float per update.
    applied_momenta: list[float] = field(default_factory=list)
    applied_param_lrs: dict[str, list[float]] = field(default_factory=dict)
    step_losses: list[float] = field(default_factory=list)  # each update's mean batch loss (before it)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count

    @property
    def accuracy(self) -> float:
        return self.correct / self.count


class Adapter(Protocol):
    framework: str  # "torch" | "tf" | "mxnet"
    framework_version: str
    device: str  # what the model actually runs on, e.g. "cpu" or "cuda:0 (NVIDIA H100)"
    settings: dict  # numeric settings that change results (e.g. {"tf32": False}), recorded per run

    def __init__(self, spec: ModelSpec, optimizer: OptimizerSpec, device: str, seed: int) -> None:
        """Build the network from ``spec`` and the optimizer from ``optimizer``; ``device`` is
        auto | cpu | cuda."""

    def num_params(self) -> int:
        """Trainable parameter count, for checking against ``spec.num_params()``."""

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights (names from ``spec.param_shapes()``)."""

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the current weights in canonical layout."""

    def get_state(self) -> dict[str, np.ndarray]:
        """Everything a checkpoint needs to continue bit for bit: the weights under their
        canonical names plus the optimizer's ``<slot>/<name>`` buffers and ``step``, all numpy
        arrays (the buffers exist, zero, before the first update)."""

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``get_state`` returned."""

    def set_data(self, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 val_x: np.ndarray | None = None, val_y: np.ndarray | None = None) -> None:
        """Take the dataset once and keep it (on the device when there is one); the validation
        split is optional."""

    def train_epoch(self, order: np.ndarray, batch_size: int, lrs: Sequence[float], trace_lrs: bool = False,
                    momenta: Sequence[float] | None = None) -> EpochStats:
        """One pass over ``train_x[order]``; update ``i`` uses learning rate ``lrs[i]`` and, when
        given, momentum (or beta1) ``momenta[i]``; None keeps the spec's constant."""

    def evaluate(self, split: str = "test") -> EpochStats:
        """Loss and accuracy on the test set (``split="val"``: the validation split), without gradients."""

    def synchronize(self) -> None:
        """Block until queued device work has finished, so that a clock read after it is honest."""
