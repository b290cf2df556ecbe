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

import contextlib
from dataclasses import dataclass, field
from typing import Any, ContextManager, Protocol, Sequence

import numpy as np

from harness.errors import HarnessError
from harness.model import ModelSpec
from harness.optimizers import OptimizerSpec


@dataclass
class EpochStats:
    loss_sum: float  # sum over examples of the per-example loss
    correct: int
    count: int
    # Test-only trace, filled only when train_epoch(..., trace_lrs=True) (the runner never asks):
    # the learning rate read back from the optimizer after it was set, one per update.
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
        given, momentum (or beta1) ``momenta[i]``; None keeps the spec's constant. ``trace_lrs``
        is a test-only hook: it fills EpochStats' trace of what the optimizer held at each update."""

    def evaluate(self, split: str = "test") -> EpochStats:
        """Loss and accuracy on the test set (``split="val"``: the validation split), without gradients."""

    def synchronize(self) -> None:
        """Block until queued device work has finished, so that a clock read after it is honest."""

    # --- diagnostics: public, for tests and benchmarks; the runner calls none of them -------------

    def apply_gradients(self, grads: dict[str, np.ndarray], lr: float, momentum: float | None = None) -> None:
        """One update of the optimizer ``train_epoch`` steps, from ``grads`` (the mean loss's,
        canonical layout) at rate ``lr`` (times each parameter's ``lr_mult``) and, when given,
        momentum (or beta1) ``momentum``, without a forward or backward pass."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The network's outputs for float32 ``(N, 1, 28, 28)`` images, without gradients."""

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """The mean cross-entropy of (x, y) and its gradients (canonical layout), at the current weights."""


def gpu_chosen(requested: str, gpu_seen: bool, none_seen: str) -> bool:
    """Whether ``device=requested`` (auto | cpu | cuda) runs on the GPU; ``device=cuda`` without
    one is the user's error, worded ``none_seen`` (e.g. "PyTorch sees no CUDA GPU")."""
    if requested == "cuda" and not gpu_seen:
        raise HarnessError(f"device=cuda but {none_seen}; use device=auto or device=cpu")
    return bool(gpu_seen) and requested in ("auto", "cuda")


class AdapterBase:
    """What every adapter does the same way, written once: the evaluation loop over batches and
    schedule-free's evaluation at its average. A subclass says how its framework does each step.

    The loop adds each batch's float64 loss sum and int64 count of correct answers to zeros on
    the device and reads them back once: no per-batch host sync.
    """

    EVAL_BATCH: int  # examples per evaluation batch, without gradients
    spec: OptimizerSpec
    test_x: Any
    test_y: Any
    val_x: Any
    val_y: Any

    def evaluate(self, split: str = "test") -> EpochStats:
        if not self.spec.evaluates_elsewhere:
            return self._evaluate(split)
        # Schedule-free evaluates at its average x, then goes back to the training point y,
        # copied rather than recomputed (recomputing y from x and z would round it differently each
        # epoch, and a resumed run must continue from exactly the weights an uninterrupted one has).
        training_point = self._training_point()
        self._move_to_average()
        try:
            return self._evaluate(split)
        finally:
            self._restore_training_point(training_point)

    def _evaluate(self, split: str) -> EpochStats:
        xs, ys = (self.val_x, self.val_y) if split == "val" else (self.test_x, self.test_y)
        n = int(ys.shape[0])
        loss_sum, correct = self._eval_zeros()
        with self._on_device():
            for start in range(0, n, self.EVAL_BATCH):
                loss, right = self._eval_batch(xs[start : start + self.EVAL_BATCH], ys[start : start + self.EVAL_BATCH])
                loss_sum, correct = loss_sum + loss, correct + right
        return EpochStats(float(self._to_host(loss_sum)), int(self._to_host(correct)), n)

    # --- what each framework says ------------------------------------------------------------------

    def _on_device(self) -> ContextManager:
        """Where the evaluation's ops run (TensorFlow names its device; the others place by their data)."""
        return contextlib.nullcontext()

    def _eval_zeros(self) -> tuple[Any, Any]:
        """A float64 zero for the loss sum and an int64 zero for the correct count, on the device."""
        raise NotImplementedError

    def _eval_batch(self, x, y) -> tuple[Any, Any]:
        """One batch's float64 loss sum and int64 correct count, without gradients, left on the device."""
        raise NotImplementedError

    def _to_host(self, value):
        """One accumulated device value as a host number (the only host sync of an evaluation)."""
        raise NotImplementedError

    def _training_point(self) -> list:
        """A copy of the weights as they are now (schedule-free's y)."""
        raise NotImplementedError(f"{type(self).__name__} has no schedule-free evaluation")

    def _move_to_average(self) -> None:
        """Set the weights to schedule-free's average x, where it is evaluated."""
        raise NotImplementedError(f"{type(self).__name__} has no schedule-free evaluation")

    def _restore_training_point(self, training_point: list) -> None:
        """Put back the copy ``_training_point`` made, and whatever mode training needs."""
        raise NotImplementedError(f"{type(self).__name__} has no schedule-free evaluation")
