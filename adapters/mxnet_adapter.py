"""MXNet Gluon adapter: the contract of ``adapters/base.py`` in MXNet 1.9.1 (hybridized, NCHW).

Gluon's layouts are the canonical ones (conv (out, in, kh, kw), dense (out, in), flatten in
C, H, W order), so weights cross unchanged, except for the zero channels of ``padded_widths``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# MXNet 1.9.1 (the last release; the project is retired) still uses the alias numpy.bool,
# which numpy removed in 1.24. Restoring it before the import is the whole fix, and it lives
# here only: nothing else in the project imports MXNet.
if "bool" not in np.__dict__:
    np.bool = bool

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from adapters.base import AdapterBase, EpochStats, gpu_chosen  # noqa: E402
from harness.model import ModelSpec, placed_activations  # noqa: E402
from harness.optimizers import OptimizerSpec, check_available, momenta_or_constant  # noqa: E402

# oneDNN's AVX2 kernels work on blocks of 8 channels. A convolution whose input channels are not
# a multiple of 8 falls back to its generic GEMM path, and so does the max-pool in front of it:
# with LeNet's 6 channels those two took about two thirds of a training step (profiled with
# DNNL_VERBOSE=1 on an AMD EPYC, AVX2).
CHANNEL_BLOCK = 8
KEEPS_ZERO = (None, "relu")  # activations with f(0) == 0: a zero channel stays exactly zero


def padded_widths(spec: ModelSpec, activations: Sequence[str | None]) -> list[int | None]:
    """The output channels each conv is built with; None for the other layers.

    A conv that feeds another conv through pools and zero-keeping activations only is widened to
    a multiple of ``CHANNEL_BLOCK`` with zero filters, and the next conv gets zero weights for
    the extra inputs. The model is the same: the extra channels are zero in the forward pass,
    and their gradients are exactly zero too (the next conv's zero weights pass none back, and
    the zero inputs give its extra weights none), so every rule leaves them at zero: a zero
    weight with a zero gradient gets a zero update from coupled or decoupled weight decay, and a
    zero state stays zero (Adam's, AdaGrad's and RMSprop's 0 / (0 + eps), eps > 0 by validation). The weights the harness sees (get/set_weights, state, gradients) are the
    canonical ones; the padding never leaves this adapter.
    """
    widths: list[int | None] = [layer.channels if layer.type == "conv" else None for layer in spec.layers]
    for i, layer in enumerate(spec.layers):
        if layer.type != "conv" or activations[i] not in KEEPS_ZERO:
            continue
        for j in range(i + 1, len(spec.layers)):
            if spec.layers[j].type == "conv":
                widths[i] = -(-layer.channels // CHANNEL_BLOCK) * CHANNEL_BLOCK
                break
            if spec.layers[j].type != "pool" or activations[j] not in KEEPS_ZERO:
                break
    return widths


def _zero_padded(weights: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if weights.shape == shape:
        return weights
    padded = np.zeros(shape, dtype=np.float32)
    padded[tuple(slice(0, n) for n in weights.shape)] = weights
    return padded


def _canonical(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return array[tuple(slice(0, n) for n in shape)]


def _block(layer, inputs, width, activation) -> nn.HybridBlock:
    """One spec layer, ``inputs`` channels or units wide (conv: ``width`` out), then ``activation``."""
    if layer.type == "conv":
        return nn.Conv2D(width, layer.kernel, padding=layer.padding, in_channels=inputs, activation=activation)
    if layer.type == "pool":
        pool = nn.MaxPool2D if layer.kind == "max" else nn.AvgPool2D
        block = pool(pool_size=layer.kernel, strides=layer.stride or layer.kernel)
        if activation:
            block, core = nn.HybridSequential(), block
            block.add(core, nn.Activation(activation))
        return block
    if layer.type == "flatten":
        return nn.Flatten()
    if layer.type == "global_avg_pool":
        block = nn.HybridSequential()
        block.add(nn.GlobalAvgPool2D(), nn.Flatten())
        return block
    if layer.type == "dropout":
        return nn.Dropout(layer.rate)
    if layer.type == "batchnorm":
        # MXNet's momentum is the keep-fraction: 1 - harness.model's. Its running variance takes
        # the batch's biased variance; _unbias_running_vars makes it PyTorch's unbiased one.
        block = nn.HybridSequential()
        block.add(nn.BatchNorm(axis=1, momentum=1 - layer.bn_momentum, epsilon=layer.bn_eps, in_channels=inputs))
        if activation:
            block.add(nn.Activation(activation))
        return block
    return nn.Dense(layer.units, in_units=inputs, activation=activation)


def _cross_entropy(logits, labels):
    """Each example's cross-entropy, -log_softmax(logits)[label], to float32 rounding.

    Not ``gluon.loss.SoftmaxCrossEntropyLoss``: its ``log_softmax`` (float32, last axis) runs
    oneDNN's kernel on the CPU, whose log-sum-exp is off by up to ~15 units in the last place
    (3.5e-6 at a loss of 2.3; MXNet's own kernel and PyTorch's: 3e-7). The error is one offset per
    example, so it scales every softmax output of that example, and any gradient that sums them
    over the batch carries it: MXNet's were 4.7e-6 to 7.5e-6 from PyTorch's per tensor, 1e-7 to
    2.1e-6 with this function, as TensorFlow's (docs/optimizers.md). An explicit ``temperature`` is
    one of the cases in which MXNet does not hand log_softmax to oneDNN (mkldnn_log_softmax.cc,
    ``SupportMKLDNNLogSoftmax``); at 1.0 its own kernel computes exactly log_softmax, forward and
    backward. The rest of the network's oneDNN kernels are as accurate as PyTorch's.
    ``tests/test_parity.py::test_mxnet_loss_is_the_cross_entropy_to_float32_rounding`` checks the
    loss and its gradient against float64.
    """
    return -mx.nd.pick(mx.nd.log_softmax(logits, axis=-1, temperature=1.0), labels, axis=-1)


def _float32_weight_ratio(beta: float) -> float:
    """How much a float32 op that computes ``1 - beta`` from float32 ``beta`` (as MXNet's fused
    optimizer ops do) weighs a new gradient, relative to PyTorch's float32(1 - beta)."""
    return float(1 - np.float32(beta)) / float(np.float32(1 - beta))


class _Rule(mx.optimizer.Optimizer):
    """A docs/optimizers.md rule written with MXNet's ndarray ops, in the order PyTorch computes
    it. MXNet's own classes compute other formulas (momentum scaled by the rate, Adam's epsilon
    on sqrt(v), AdaGrad's and RMSprop's epsilon inside the root). Gluon's Trainer still drives it:
    the rate (``set_learning_rate``), each parameter's ``lr_mult``, the 1/batch_size
    ``rescale_grad``, the per-parameter update count and the state it creates and keeps."""

    def __init__(self, spec: OptimizerSpec) -> None:
        super().__init__(learning_rate=0.0)  # wd stays 0: weight decay is part of the rule
        self.spec = spec
        self.momentum = spec.constant_momentum  # sgd, rmsprop: momentum; adam, adamw: beta1

    def create_state(self, index, weight):
        return tuple(mx.nd.full(weight.shape, self.spec.initial_slot(slot), ctx=weight.context, dtype=weight.dtype)
                     for slot in self.spec.slots())

    def update(self, index, weight, grad, state):
        self._update_count(index)
        spec, lr, mu = self.spec, self._get_lr(index), self.momentum
        slot = dict(zip(spec.slots(), state))
        g = grad * self.rescale_grad if spec.name not in ("adam", "adamw") else None
        if spec.name == "adamw" and spec.weight_decay:
            weight[:] = weight * (1 - lr * spec.weight_decay)
        elif spec.weight_decay and g is not None:
            g = g + spec.weight_decay * weight
        if spec.name == "sgd":
            if spec.momentum > 0:
                slot["momentum"][:] = slot["momentum"] * mu + g
                g = g + mu * slot["momentum"] if spec.nesterov else slot["momentum"]
            weight[:] = weight - lr * g
        elif spec.name in ("adam", "adamw"):
            # MXNet's fused adam_update has no bias correction of its own (its Adam class folds
            # one into the rate, the "epsilon hat" form). PyTorch's step, lr/(1-mu^t) * m /
            # (sqrt(v)/sqrt(1-b2^t) + eps), is that op at rate lr*sqrt(1-b2^t)/(1-mu^t) and epsilon
            # eps*sqrt(1-b2^t); its wd is coupled L2, as adam's. One op instead of ten.
            # The op also takes its betas as float32 and weighs the new gradient by 1 - beta in
            # float32, where PyTorch weighs it by float32(1 - beta): 1 - float32(0.999) is 1.29e-5
            # below float32(0.001), so the op's v is that much smaller than PyTorch's at every
            # update, and each step 6.5e-6 larger (measured 6.7e-6 on the weights after 20
            # updates, with the same gradients fed to both). Both v's decay by float32(beta2), so
            # the ratio is one constant, divided out of the op's rate and epsilon here; m's too
            # (2.2e-7 at beta1 = 0.9; under a changing beta1 the current one's, and the ratios of
            # beta1 in [0.85, 0.95] differ by 4e-7). The stored exp_avg_sq is the op's own (that
            # constant times PyTorch's): a resumed run continues it bit for bit.
            t = self._index_update_count[index]
            bias2_sqrt = (1 - spec.beta2**t) ** 0.5
            m_scale, v_root = _float32_weight_ratio(mu), _float32_weight_ratio(spec.beta2) ** 0.5
            mx.nd.adam_update(weight, grad, slot["exp_avg"], slot["exp_avg_sq"], out=weight,
                              lr=lr * bias2_sqrt * v_root / ((1 - mu**t) * m_scale), beta1=mu, beta2=spec.beta2,
                              epsilon=spec.eps * bias2_sqrt * v_root, rescale_grad=self.rescale_grad,
                              wd=spec.weight_decay if spec.name == "adam" else 0.0)
        elif spec.name == "adagrad":
            slot["sum"][:] = slot["sum"] + g * g
            weight[:] = weight - lr * (g / (mx.nd.sqrt(slot["sum"]) + spec.eps))
        else:  # rmsprop
            slot["square_avg"][:] = slot["square_avg"] * spec.alpha + (1 - spec.alpha) * g * g
            mean_square = slot["square_avg"]
            if spec.centered:
                slot["grad_avg"][:] = slot["grad_avg"] + (1 - spec.alpha) * (g - slot["grad_avg"])
                mean_square = mean_square - slot["grad_avg"] * slot["grad_avg"]
            scaled = g / (mx.nd.sqrt(mean_square) + spec.eps)
            if spec.momentum > 0:
                slot["momentum"][:] = slot["momentum"] * mu + scaled
                scaled = slot["momentum"]
            weight[:] = weight - lr * scaled


class MXNetAdapter(AdapterBase):
    framework = "mxnet"
    framework_version = mx.__version__
    EVAL_BATCH = 1000

    def __init__(self, spec: ModelSpec, optimizer: OptimizerSpec, device: str, seed: int) -> None:
        check_available(optimizer.name, "mxnet")  # the CLI refuses it earlier; code that builds an adapter too
        self.ctx = mx.gpu(0) if gpu_chosen(device, mx.context.num_gpus() > 0, "MXNet sees no GPU") else mx.cpu()
        self.device = "gpu:0" if self.ctx.device_type == "gpu" else "cpu"
        self.settings = {"tf32": False}  # MXNet 1.9.1 has no TF32 path
        mx.random.seed(seed)
        self.net = nn.HybridSequential()
        activations = placed_activations(spec)
        built_channels = spec.input_shape[0]  # what the next conv receives, padding included
        for layer, shape, width, activation in zip(spec.layers, spec.input_shapes(), padded_widths(spec, activations), activations):
            self.net.add(_block(layer, built_channels if layer.type == "conv" else shape[0], width, activation))
            built_channels = width or built_channels
        self.net.initialize(mx.init.Zero(), ctx=self.ctx)  # replaced by set_weights
        # static_alloc/static_shape: the graph and its memory are planned once per batch shape.
        self.net.hybridize(static_alloc=True, static_shape=True)
        self._shapes = spec.param_shapes()  # canonical; a padded conv's parameters are larger
        self._params, self._buffers = {}, {}  # canonical name -> gluon Parameter
        suffixes = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
        for i, block in enumerate(self.net):
            for full_name, param in block.collect_params().items():
                kind = full_name.rsplit("_", 1)[-1]
                if kind in suffixes:
                    self._params[f"{i}.{suffixes[kind]}"] = param
                elif full_name.endswith(("running_mean", "running_var")):
                    self._buffers[f"{i}.running_{full_name.rsplit('_', 1)[-1]}"] = param
        assert list(self._params) == list(self._shapes), (list(self._params), list(self._shapes))
        # batchnorm: (running_var parameter, keep-fraction, values per channel of one example)
        self._norms = [(self._buffers[f"{i}.running_var"], 1 - spec.layers[i].bn_momentum,
                        int(np.prod(spec.input_shapes()[i][1:])))
                       for i in spec.batchnorm_layers()]
        self.spec = optimizer
        for name, param in self._params.items():
            param.lr_mult = optimizer.multiplier(name)
        if optimizer.name == "sgd" and optimizer.momentum == 0:
            # MXNet's SGD without momentum is the definition: w -= lr * (g + weight_decay * w).
            self.trainer = gluon.Trainer(self.net.collect_params(), "sgd",
                                         {"learning_rate": 0.0, "wd": optimizer.weight_decay})
        else:
            self.trainer = gluon.Trainer(self.net.collect_params(), _Rule(optimizer))
        self.loss = _cross_entropy  # per example: backward() sums the batch

    def num_params(self) -> int:
        return int(sum(np.prod(shape) for shape in self._shapes.values()))

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for name, param in self._params.items():
            param.set_data(mx.nd.array(_zero_padded(weights[name], param.shape), ctx=self.ctx, dtype="float32"))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {name: self._read(param.data(self.ctx), name) for name, param in self._params.items()}

    def _read(self, array, name: str) -> np.ndarray:
        """One of ``name``'s built arrays (weights, gradient, momentum) in its canonical shape."""
        return np.ascontiguousarray(_canonical(array.asnumpy(), self._shapes[name]))

    def _updater_index(self, param) -> int:
        # The Trainer numbers parameters in its own (name-sorted) order, not collect_params' order.
        return self.trainer._param2idx[param.name]

    def _states(self, param) -> tuple:
        """The updater's state of ``param``, one array per slot of the spec (created if the
        parameter has had no update yet, as the updater itself would)."""
        updater, index = self.trainer._updaters[0], self._updater_index(param)
        if not self.spec.slots():
            return ()
        if updater.states.get(index) is None:
            updater.states[index] = updater.optimizer.create_state_multi_precision(index, param.data(self.ctx))
            updater.states_synced[index] = True
        return updater.states[index]

    def _running_vars(self) -> list:
        """Copies of batchnorm's running variances before a training forward (none without batchnorm)."""
        return [param.data(self.ctx).copy() for param, _, _ in self._norms]

    def _unbias_running_vars(self, before: list, batch: int) -> None:
        """MXNet's op left ``v = k * old + (1 - k) * biased`` (k the keep-fraction); PyTorch's is
        ``k * old + (1 - k) * biased * n / (n - 1)`` with n the values per channel, which is
        ``v + (v - k * old) / (n - 1)``. Called after backward(): with oneDNN's kernels the op
        updates its running statistics in the backward pass (measured on MXNet 1.9.1's CPU build).
        Queued, no host sync: a few ops on channel-sized vectors."""
        for (param, keep, per_example), old in zip(self._norms, before):
            n = batch * per_example
            data = param.data(self.ctx)
            data[:] = data + (data - keep * old) / (n - 1)

    def get_state(self) -> dict[str, np.ndarray]:
        state = self.get_weights()
        state.update({name: param.data(self.ctx).asnumpy() for name, param in self._buffers.items()})
        for name, param in self._params.items():
            for slot, buffer in zip(self.spec.slots(), self._states(param)):
                state[f"{slot}/{name}"] = self._read(buffer, name)
        if self.spec.counts_steps:  # the optimizer counts updates per parameter; all are equal
            counts = self.trainer._optimizer._index_update_count
            state["step"] = np.array(max(counts.values(), default=0), dtype=np.int64)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.set_weights(state)
        for name, param in self._buffers.items():
            param.set_data(mx.nd.array(state[name], ctx=self.ctx, dtype="float32"))
        for name, param in self._params.items():
            for slot, buffer in zip(self.spec.slots(), self._states(param)):
                buffer[:] = mx.nd.array(_zero_padded(state[f"{slot}/{name}"], param.shape), ctx=self.ctx)
        if self.spec.counts_steps:
            optimizer, step = self.trainer._optimizer, int(state["step"])
            counts = {self._updater_index(p): step for p in self._params.values()}
            optimizer._all_index_update_counts[self.ctx.device_id] = optimizer._index_update_count = counts
            optimizer.num_update = step

    def set_data(self, train_x, train_y, test_x, test_y, val_x=None, val_y=None) -> None:
        self.train_x = mx.nd.array(train_x, ctx=self.ctx, dtype="float32")
        self.train_y = mx.nd.array(train_y, ctx=self.ctx, dtype="int64")
        self.test_x = mx.nd.array(test_x, ctx=self.ctx, dtype="float32")
        self.test_y = mx.nd.array(test_y, ctx=self.ctx, dtype="int64")
        self.val_x = mx.nd.array(val_x, ctx=self.ctx, dtype="float32") if val_x is not None else None
        self.val_y = mx.nd.array(val_y, ctx=self.ctx, dtype="int64") if val_y is not None else None

    def train_epoch(self, order: np.ndarray, batch_size: int, lrs: Sequence[float], trace_lrs: bool = False,
                    momenta: Sequence[float] | None = None) -> EpochStats:
        order_nd = mx.nd.array(order, ctx=self.ctx, dtype="int64")
        loss_sum = mx.nd.zeros((1,), ctx=self.ctx, dtype="float64")
        correct = mx.nd.zeros((1,), ctx=self.ctx, dtype="int64")
        updates = -(-len(order) // batch_size)
        momenta = None if momenta is None else momenta_or_constant(self.spec, momenta, updates)
        optimizer = self.trainer._optimizer
        stats = EpochStats(0.0, 0, len(order))
        for i, start in enumerate(range(0, len(order), batch_size)):
            idx = order_nd[start : start + batch_size]
            x, y = mx.nd.take(self.train_x, idx), mx.nd.take(self.train_y, idx)
            self.trainer.set_learning_rate(float(lrs[i]))
            if momenta is not None:
                optimizer.momentum = float(momenta[i])
            if trace_lrs:  # read back from the optimizer: what its update reads
                stats.applied_lrs.append(self.trainer.learning_rate)
                for name, param in self._params.items():
                    stats.applied_param_lrs.setdefault(name, []).append(optimizer._get_lr(self._updater_index(param)))
                if self.spec.momentum_name is not None:
                    stats.applied_momenta.append(optimizer.momentum)
            before = self._running_vars()
            with autograd.record():
                logits = self.net(x)
                per_example = self.loss(logits, y)
            per_example.backward()  # gradient of the batch *sum* ...
            self._unbias_running_vars(before, idx.shape[0])
            self.trainer.step(idx.shape[0])  # ... divided by the batch size: the mean's gradient
            # Queued, not synchronised: MXNet runs these asynchronously until asnumpy() below.
            loss_sum += per_example.sum().astype("float64")
            correct += (logits.argmax(axis=1).astype("int64") == y).sum()
            if trace_lrs:
                stats.step_losses.append(per_example.mean())
        if stats.step_losses:
            stats.step_losses = mx.nd.concat(*stats.step_losses, dim=0).asnumpy().astype(np.float64).tolist()
        stats.loss_sum, stats.correct = float(loss_sum.asnumpy()[0]), int(correct.asnumpy()[0])
        return stats

    # --- evaluation (the loop is AdapterBase's; MXNet has no schedule-free rule to evaluate) -----

    def _eval_zeros(self):
        return mx.nd.zeros((1,), ctx=self.ctx, dtype="float64"), mx.nd.zeros((1,), ctx=self.ctx, dtype="int64")

    def _eval_batch(self, x, y):
        logits = self.net(x)
        return self.loss(logits, y).sum().astype("float64"), (logits.argmax(axis=1).astype("int64") == y).sum()

    def _to_host(self, value):
        return value.asnumpy()[0]

    def synchronize(self) -> None:
        mx.nd.waitall()

    # --- diagnostics (adapters/base.py): for tests and benchmarks ---------------------------------

    def apply_gradients(self, grads: dict[str, np.ndarray], lr: float, momentum: float | None = None) -> None:
        # The path of train_epoch: backward() leaves a gradient in each parameter (here the
        # gradient of sum(w * g), which is g exactly; padded with zeros) and Trainer.step(1)
        # hands it to the rule at rescale_grad 1.
        self.trainer.set_learning_rate(lr)
        if momentum is not None:
            self.trainer._optimizer.momentum = float(momentum)
        given = {name: mx.nd.array(_zero_padded(grads[name], p.shape), ctx=self.ctx) for name, p in self._params.items()}
        with autograd.record():
            total = mx.nd.add_n(*[(p.data(self.ctx) * given[name]).sum() for name, p in self._params.items()])
        total.backward()
        self.trainer.step(1)

    def padded_arrays(self) -> dict[str, np.ndarray]:
        """Each parameter (``<name>``) and optimizer slot (``<slot>/<name>``) as built, padding
        included: what tests/test_mxnet_padding.py checks stays zero, and nothing else sees."""
        arrays = {name: param.data(self.ctx).asnumpy() for name, param in self._params.items()}
        for name, param in self._params.items():
            for slot, buffer in zip(self.spec.slots(), self._states(param)):
                arrays[f"{slot}/{name}"] = buffer.asnumpy()
        return arrays

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.net(mx.nd.array(x, ctx=self.ctx)).asnumpy()

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """In training mode, as train_epoch's forward (batchnorm's running statistics updated)."""
        xb, yb = mx.nd.array(x, ctx=self.ctx), mx.nd.array(y, ctx=self.ctx, dtype="int64")
        before = self._running_vars()
        with autograd.record():
            loss = self.loss(self.net(xb), yb).mean()
        loss.backward()
        self._unbias_running_vars(before, len(x))
        return float(loss.asscalar()), {name: self._read(p.grad(self.ctx), name) for name, p in self._params.items()}
