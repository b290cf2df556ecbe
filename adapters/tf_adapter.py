"""TensorFlow / Keras 3 adapter: the contract of ``adapters/base.py`` in TensorFlow.

Channel-last (NHWC), so weights are transposed between the canonical layout and Keras's:
conv kernels (out, in, kh, kw) <-> (kh, kw, in, out); dense (out, in) <-> (in, out); and the
layers after ``flatten`` up to the first dense one (its kernel's inputs, a batchnorm's
vectors) see (H, W, C) order instead of (C, H, W).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console
# On Linux, TensorFlow picks oneDNN's kernels by itself only on CPUs with VNNI, AVX-512 BF16 or
# AMX (tensorflow/core/util/port.cc, DefaultOneDnnPolicy); on others it uses Eigen's. On an AMD
# EPYC (AVX2) that made this LeNet's training step 3x slower (55-62 ms vs 19 ms per batch of
# 256). A user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow 2.19+ logs through absl before absl::InitializeLog, which TF_CPP_MIN_LOG_LEVEL does
# not filter (tensorflow/tensorflow#100442): each import printed absl's "All log messages before
# absl::InitializeLog() ..." and oneDNN's "custom operations are on" notice, twice (two libraries
# log it). Only those lines are dropped; anything else the import writes to stderr is kept.
_IMPORT_CHATTER = re.compile(r"All log messages before absl::InitializeLog|\] oneDNN custom operations are on")


@contextlib.contextmanager
def _without_import_chatter():
    """Hold file descriptor 2 (where native code logs) in a file while the block runs, then write
    back every line of it but TensorFlow's import chatter."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines(keepends=True):
                if not _IMPORT_CHATTER.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


with _without_import_chatter():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402

from adapters.base import AdapterBase, EpochStats, gpu_chosen  # noqa: E402
from harness.model import ModelSpec, placed_activations  # noqa: E402
from harness.optimizers import OptimizerSpec, momenta_or_constant  # noqa: E402

TRACE = dict(reduce_retracing=True, jit_compile=False)  # XLA was 2-3x slower on CPU here (measured)


class _BatchNorm(keras.layers.Layer):
    """harness.model's batchnorm (PyTorch's definition), over the last axis. Not Keras's own
    BatchNormalization: that one updates its moving variance with the batch's *biased* variance,
    PyTorch with the unbiased one (n / (n - 1) times it). ``momentum`` is the batch's weight, as
    in harness.model (Keras's keep-fraction is 1 - momentum)."""

    def __init__(self, momentum: float, eps: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch_weight, self.eps = momentum, eps

    def build(self, input_shape) -> None:
        width = (input_shape[-1],)
        # Created in the canonical order: weight (gamma), bias (beta); then the running statistics.
        self.gamma = self.add_weight(shape=width, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=width, initializer="zeros", name="beta")
        self.running_mean = self.add_weight(shape=width, initializer="zeros", name="running_mean", trainable=False)
        self.running_var = self.add_weight(shape=width, initializer="ones", name="running_var", trainable=False)

    def call(self, x, training=False):
        if not training:
            return tf.nn.batch_normalization(x, self.running_mean, self.running_var, self.beta, self.gamma, self.eps)
        axes = list(range(len(x.shape) - 1))
        mean, var = tf.nn.moments(x, axes)
        n = tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)
        m = self.batch_weight
        self.running_mean.assign((1 - m) * self.running_mean + m * mean)
        self.running_var.assign((1 - m) * self.running_var + m * var * n / (n - 1))
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.eps)


def _layer(layer, activation):
    """One spec layer, followed by ``activation``, as a list of Keras layers (explicit padding
    and an activation after a pool need layers of their own)."""
    if layer.type == "conv":
        pad = layer.padding
        same = pad * 2 == layer.kernel - 1
        # Keras spells the activations as the spec does (None, "relu", "sigmoid")
        conv = keras.layers.Conv2D(layer.channels, layer.kernel, padding="same" if same else "valid", activation=activation)
        return [conv] if same or pad == 0 else [keras.layers.ZeroPadding2D(pad), conv]
    if layer.type == "pool":
        pool = keras.layers.MaxPooling2D if layer.kind == "max" else keras.layers.AveragePooling2D
        return [pool(layer.kernel, strides=layer.stride or layer.kernel)] + (
            [keras.layers.Activation(activation)] if activation else [])
    if layer.type == "flatten":
        return [keras.layers.Flatten()]
    if layer.type == "global_avg_pool":
        return [keras.layers.GlobalAveragePooling2D()]
    if layer.type == "batchnorm":
        return [_BatchNorm(layer.bn_momentum, layer.bn_eps)] + ([keras.layers.Activation(activation)] if activation else [])
    if layer.type == "dropout":
        return [keras.layers.Dropout(layer.rate)]
    return [keras.layers.Dense(layer.units, activation=activation)]


class TFAdapter(AdapterBase):
    framework = "tf"
    framework_version = tf.__version__
    EVAL_BATCH = 1000

    def __init__(self, spec: ModelSpec, optimizer: OptimizerSpec, device: str, seed: int) -> None:
        gpus = tf.config.list_physical_devices("GPU")
        self._device = "/GPU:0" if gpu_chosen(device, bool(gpus), "TensorFlow sees no GPU") else "/CPU:0"
        self.device = f"gpu:0 ({gpus[0].name})" if self._device == "/GPU:0" else "cpu"
        # TensorFlow uses TF32 for float32 matmuls on Ampere+ GPUs by default; PyTorch does not.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        self.settings = {"tf32": False}
        keras.utils.set_random_seed(seed)
        self.spec = spec
        self.spec_layers = spec.layers
        c, h, w = spec.input_shape
        with tf.device(self._device):
            self.model = keras.Sequential(
                [keras.Input((h, w, c))]
                + [k for layer, activation in zip(spec.layers, placed_activations(spec)) for k in _layer(layer, activation)]
            )
            self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False)
            self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Keras variables in the order of spec.param_shapes(): kernel then bias per layer.
        self._names = list(spec.param_shapes())
        self._vars = dict(zip(self._names, self.model.trainable_variables))
        norms = iter(layer for layer in self.model.layers if isinstance(layer, _BatchNorm))
        self._buffers = {}  # batchnorm's running statistics, canonical name -> variable
        for i in spec.batchnorm_layers():
            norm = next(norms)
            self._buffers[f"{i}.running_mean"], self._buffers[f"{i}.running_var"] = norm.running_mean, norm.running_var
        self._build_optimizer(optimizer)
        self._hwc = self._hwc_layers(spec)

    @staticmethod
    def _hwc_layers(spec: ModelSpec) -> tuple[set[int], np.ndarray | None]:
        """The layers that see a flattened image in (H, W, C) order here, (C, H, W) in the canonical
        layout (from flatten to the first dense one, inclusive), and the permutation: canonical
        feature ``order[k]`` is Keras's feature k."""
        if not spec.flattens():
            return set(), None
        c, h, w = spec.feature_shape_before_flatten()
        start = next(i for i, layer in enumerate(spec.layers) if layer.type == "flatten")
        end = next(i for i in range(start, len(spec.layers)) if spec.layers[i].type == "dense")
        order = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        return set(range(start, end + 1)), order

    # --- the optimizer ---------------------------------------------------------------------------
    # Keras's classes compute other formulas (docs/optimizers.md: momentum scaled by the rate,
    # Adam's epsilon on sqrt(v), RMSprop's and AdaGrad's epsilon inside the root, AdaGrad's
    # accumulator starting at 0.1), so every rule is written here with TensorFlow ops, in the
    # order PyTorch computes it. Plain SGD is Keras SGD's own update, ``w -= g * lr``, bit for bit.

    def _build_optimizer(self, spec: OptimizerSpec) -> None:
        self.spec = spec
        with tf.device(self._device):
            # The rate and momentum of the current update, assigned inside the graph before it and
            # read back from there for the trace; float64, as the runner's arrays are.
            self._lr = tf.Variable(0.0, dtype=tf.float64, trainable=False)
            self._momentum = tf.Variable(spec.constant_momentum, dtype=tf.float64, trainable=False)
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
            self._slots = {slot: [tf.Variable(tf.fill(v.shape, tf.constant(spec.initial_slot(slot), v.dtype)), trainable=False)
                                  for v in self.model.trainable_variables] for slot in spec.slots()}
            # schedule-free's running maximum rate and sum of averaging weights, per variable, in
            # float64 as the package keeps them (Python floats); its lr_max starts at -1.
            self._scalars = {name: [tf.Variable(-1.0 if name == "lr_max" else 0.0, dtype=tf.float64, trainable=False)
                                    for _ in self.model.trainable_variables] for name in spec.scalars()}
        self._mults = [spec.multiplier(name) for name in self._names]

    def _apply(self, grads) -> None:
        """One update of every variable under the rule, at ``self._lr`` and ``self._momentum``."""
        spec, f32 = self.spec, tf.float32
        step = tf.cast(self._step.assign_add(1), tf.float64)
        mu64 = self._momentum.read_value()
        mu = tf.cast(mu64, f32)
        for k, (var, g) in enumerate(zip(self.model.trainable_variables, grads)):
            rate64 = self._lr * self._mults[k]
            rate = tf.cast(rate64, f32)
            slot = {name: slots[k] for name, slots in self._slots.items()}
            if spec.name == "schedule_free_adamw":
                self._schedule_free(k, var, g, slot, rate64, step)
            elif spec.name == "adamw" and spec.weight_decay:
                var.assign(var * tf.cast(1 - rate64 * spec.weight_decay, f32))
            elif spec.weight_decay:
                g = g + spec.weight_decay * var
            if spec.name == "sgd":
                if spec.momentum > 0:
                    buf = slot["momentum"].assign(slot["momentum"] * mu + g)
                    g = g + mu * buf if spec.nesterov else buf
                var.assign_sub(g * rate)  # Keras SGD's own line
            elif spec.name in ("adam", "adamw"):
                step_size = tf.cast(rate64 / (1 - mu64**step), f32)
                bias2_sqrt = tf.cast(tf.sqrt(1 - spec.beta2**step), f32)
                m = slot["exp_avg"].assign(slot["exp_avg"] + tf.cast(1 - mu64, f32) * (g - slot["exp_avg"]))
                v = slot["exp_avg_sq"].assign(slot["exp_avg_sq"] * spec.beta2 + (1 - spec.beta2) * g * g)
                var.assign_sub(step_size * (m / (tf.sqrt(v) / bias2_sqrt + spec.eps)))
            elif spec.name == "adagrad":
                total = slot["sum"].assign(slot["sum"] + g * g)
                var.assign_sub(rate * (g / (tf.sqrt(total) + spec.eps)))
            elif spec.name == "rmsprop":
                mean_square = slot["square_avg"].assign(slot["square_avg"] * spec.alpha + (1 - spec.alpha) * g * g)
                if spec.centered:
                    mean = slot["grad_avg"].assign(slot["grad_avg"] + (1 - spec.alpha) * (g - slot["grad_avg"]))
                    mean_square = mean_square - mean * mean
                scaled = g / (tf.sqrt(mean_square) + spec.eps)
                if spec.momentum > 0:
                    scaled = slot["momentum"].assign(slot["momentum"] * mu + scaled)
                var.assign_sub(rate * scaled)

    def _schedule_free(self, k, var, g, slot, rate64, step) -> None:
        """``schedulefree.AdamWScheduleFree.step`` for one variable, op for op: its scalars in
        float64, its tensors in float32, its ``lerp`` as torch computes one (two formulas either
        side of weight 0.5). Keras's own ScheduleFreeAdamW is another algorithm (docs/optimizers.md)."""
        spec, f32 = self.spec, tf.float32
        lr_max = self._scalars["lr_max"][k].assign(tf.maximum(self._scalars["lr_max"][k], rate64))
        weight = tf.pow(step, spec.r) * tf.pow(lr_max, spec.weight_lr_power)
        weight_sum = self._scalars["weight_sum"][k].assign_add(weight)
        c64 = tf.math.divide_no_nan(weight, weight_sum)  # the package's ZeroDivisionError -> 0
        c = tf.cast(c64, f32)
        bias_correction2 = tf.cast(1 - tf.pow(tf.constant(spec.beta2, tf.float64), step), f32)
        v = slot["exp_avg_sq"].assign(slot["exp_avg_sq"] * spec.beta2 + (1 - spec.beta2) * g * g)
        normalised = g / (tf.sqrt(v / bias_correction2) + spec.eps)
        if spec.weight_decay:
            normalised = normalised + var * spec.weight_decay
        z = slot["z"]
        toward_z = tf.cond(tf.abs(c) < 0.5, lambda: var + c * (z - var), lambda: z - (z - var) * (1 - c))
        var.assign(toward_z + normalised * tf.cast(rate64 * (spec.beta1 * (1 - c64) - 1), f32))
        z.assign_sub(normalised * tf.cast(rate64, f32))

    # --- weights ---------------------------------------------------------------------------

    def _reordered(self, name: str) -> bool:
        """Whether ``name``'s feature axis is a flattened image's (see ``_hwc_layers``); a dense
        layer's bias is indexed by its outputs, not its inputs."""
        layers, order = self._hwc
        index = int(name.split(".")[0])
        return order is not None and index in layers and not (self.spec_layers[index].type == "dense" and name.endswith(".bias"))

    def _to_keras(self, name: str, value: np.ndarray) -> np.ndarray:
        if value.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
            return value.transpose(2, 3, 1, 0)
        if value.ndim == 2:
            if self._reordered(name):  # inputs (C, H, W) -> (H, W, C)
                value = value[:, self._hwc[1]]
            return value.T
        return value[self._hwc[1]] if self._reordered(name) else value

    def _from_keras(self, name: str, value: np.ndarray) -> np.ndarray:
        if value.ndim == 4:
            return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
        inverse = np.argsort(self._hwc[1]) if self._reordered(name) else None
        if value.ndim == 2:
            value = value.T
            return np.ascontiguousarray(value[:, inverse] if inverse is not None else value)
        return np.ascontiguousarray(value[inverse]) if inverse is not None else value

    def num_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.model.trainable_variables))

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for name, var in self._vars.items():
            var.assign(self._to_keras(name, weights[name]))
        if "z" in self._slots and int(self._step.numpy()) == 0:  # schedule-free's z starts at the weights
            for var, z in zip(self.model.trainable_variables, self._slots["z"]):
                z.assign(var)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {name: self._from_keras(name, var.numpy()) for name, var in self._vars.items()}

    def get_state(self) -> dict[str, np.ndarray]:
        state = self.get_weights()
        state.update({name: self._from_keras(name, var.numpy()) for name, var in self._buffers.items()})
        for slot, buffers in self._slots.items():
            for name, buffer in zip(self._names, buffers):
                state[f"{slot}/{name}"] = self._from_keras(name, buffer.numpy())
        for scalar, values in self._scalars.items():
            for name, value in zip(self._names, values):
                state[f"{scalar}/{name}"] = np.array(value.numpy(), dtype=np.float64)
        if self.spec.counts_steps:
            state["step"] = np.array(self._step.numpy(), dtype=np.int64)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.set_weights(state)
        for name, var in self._buffers.items():
            var.assign(self._to_keras(name, state[name]))
        for slot, buffers in self._slots.items():
            for name, buffer in zip(self._names, buffers):
                buffer.assign(self._to_keras(name, state[f"{slot}/{name}"]))
        for scalar, values in self._scalars.items():
            for name, value in zip(self._names, values):
                value.assign(float(state[f"{scalar}/{name}"]))
        self._step.assign(int(state["step"]) if self.spec.counts_steps else 0)

    # --- data and training -----------------------------------------------------------------

    def set_data(self, train_x, train_y, test_x, test_y, val_x=None, val_y=None) -> None:
        with tf.device(self._device):
            self.train_x = tf.constant(train_x.transpose(0, 2, 3, 1))  # NCHW -> NHWC, once
            self.train_y = tf.constant(train_y)
            self.test_x = tf.constant(test_x.transpose(0, 2, 3, 1))
            self.test_y = tf.constant(test_y)
            self.val_x = tf.constant(val_x.transpose(0, 2, 3, 1)) if val_x is not None else None
            self.val_y = tf.constant(val_y) if val_y is not None else None

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([], tf.float64),
                                  tf.TensorSpec([], tf.float64)], **TRACE)
    def _train_step(self, idx, lr, momentum):
        """One update; returns what the optimizer held for it (the rate, the momentum or beta1) and the loss."""
        x, y = tf.gather(self.train_x, idx), tf.gather(self.train_y, idx)
        self._lr.assign(lr)
        self._momentum.assign(momentum)
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self._apply(grads)
        # Accumulated in variables: nothing comes back to the host until the epoch ends.
        self.loss_sum.assign_add(tf.cast(loss, tf.float64) * tf.cast(tf.size(y), tf.float64))
        self.correct.assign_add(tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == y, tf.int64)))
        return tf.stack([self._lr.read_value(), self._momentum.read_value(), tf.cast(loss, tf.float64)])

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None], tf.float64),
                                  tf.TensorSpec([None], tf.float64)], **TRACE)
    def _train_batches(self, batches, lrs, momenta):
        """Equal-sized batches, one per row, in one graph: no Python between updates (about 10%
        of an epoch on this CPU). Returns the rate and momentum the optimizer held at each update,
        and its loss."""
        applied = tf.TensorArray(tf.float64, size=tf.shape(batches)[0])
        for i in tf.range(tf.shape(batches)[0]):
            applied = applied.write(i, self._train_step(batches[i], lrs[i], momenta[i]))
        return applied.stack()

    def train_epoch(self, order: np.ndarray, batch_size: int, lrs: Sequence[float], trace_lrs: bool = False,
                    momenta: Sequence[float] | None = None) -> EpochStats:
        self.loss_sum.assign(0.0)
        self.correct.assign(0)
        order = np.asarray(order, dtype=np.int64)
        full = len(order) // batch_size
        updates = -(-len(order) // batch_size)
        lrs = np.asarray(lrs, dtype=np.float64)[:updates]
        momenta = momenta_or_constant(self.spec, momenta, updates)[:updates]
        held = []
        with tf.device(self._device):
            if full:
                held += [self._train_batches(tf.constant(order[: full * batch_size].reshape(full, batch_size)),
                                             tf.constant(lrs[:full]), tf.constant(momenta[:full]))]
            if len(order) > full * batch_size:  # the last, smaller batch
                held += [self._train_step(tf.constant(order[full * batch_size :]), tf.constant(lrs[full]),
                                          tf.constant(momenta[full]))[None]]
        stats = EpochStats(float(self.loss_sum.numpy()), int(self.correct.numpy()), len(order))
        if trace_lrs:
            held = np.concatenate([h.numpy() for h in held])
            stats.applied_lrs, stats.step_losses = held[:, 0].tolist(), held[:, 2].tolist()
            # The rate each variable's update multiplies by: the held rate times its lr_mult.
            stats.applied_param_lrs = {n: (held[:, 0] * m).tolist() for n, m in zip(self._names, self._mults)}
            if self.spec.momentum_name is not None:
                stats.applied_momenta = held[:, 1].tolist()
        return stats

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.float32), tf.TensorSpec([None], tf.int64)], **TRACE)
    def _eval_step(self, x, y):
        logits = self.model(x, training=False)
        loss = tf.reduce_sum(tf.cast(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits), tf.float64))
        return loss, tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == y, tf.int64))

    # --- evaluation (the loop and the schedule-free swap are AdapterBase's) --------------------

    def _on_device(self):
        return tf.device(self._device)

    def _eval_zeros(self):
        return tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)

    def _eval_batch(self, x, y):
        return self._eval_step(x, y)

    def _to_host(self, value):
        return value.numpy()

    def _training_point(self) -> list:
        return [tf.constant(var.numpy()) for var in self.model.trainable_variables]

    def _move_to_average(self) -> None:
        # x = y + (1 - 1/beta1)(z - y): the package's eval(), a lerp of weight below 0.5.
        weight = tf.constant(1 - 1 / self.spec.beta1, tf.float32)
        for var, z in zip(self.model.trainable_variables, self._slots["z"]):
            var.assign(var + weight * (z - var))

    def _restore_training_point(self, training_point: list) -> None:
        for var, y in zip(self.model.trainable_variables, training_point):
            var.assign(y)

    def synchronize(self) -> None:
        pass  # every method above ends by reading a value back, which waits for the device

    # --- diagnostics (adapters/base.py): for tests and benchmarks ---------------------------------

    def apply_gradients(self, grads: dict[str, np.ndarray], lr: float, momentum: float | None = None) -> None:
        self._lr.assign(lr)
        if momentum is not None:
            self._momentum.assign(momentum)
        with tf.device(self._device):
            self._apply([tf.constant(self._to_keras(name, grads[name])) for name in self._names])

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.model(tf.constant(x.transpose(0, 2, 3, 1)), training=False).numpy()

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        with tf.GradientTape() as tape:
            logits = self.model(tf.constant(x.transpose(0, 2, 3, 1)), training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=logits))
        grads = tape.gradient(loss, self.model.trainable_variables)
        return float(loss.numpy()), {n: self._from_keras(n, g.numpy()) for n, g in zip(self._names, grads)}
