"""PyTorch adapter: the contract of ``adapters/base.py`` in PyTorch."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adapters.base import AdapterBase, EpochStats, gpu_chosen
from harness.model import ModelSpec, placed_activations
from harness.optimizers import OptimizerSpec, momenta_or_constant

# Our slot names (harness.optimizers) -> the keys of torch.optim's per-parameter state.
TORCH_SLOT = {"momentum": "momentum_buffer", "exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "sum": "sum",
              "square_avg": "square_avg", "grad_avg": "grad_avg", "z": "z"}


def _native_optimizer(params: list, spec: OptimizerSpec) -> torch.optim.Optimizer:
    """torch.optim's class for the rule: each computes the docs/optimizers.md definition as it is
    (the definitions are PyTorch's). One parameter group per parameter, for its lr_mult."""
    groups = [{"params": [p], "lr_mult": m} for p, m in params]
    wd = spec.weight_decay
    if spec.name == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=wd)
    if spec.name in ("adam", "adamw"):
        cls = torch.optim.Adam if spec.name == "adam" else torch.optim.AdamW
        return cls(groups, lr=0.0, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=wd)
    if spec.name == "schedule_free_adamw":
        from schedulefree import AdamWScheduleFree  # the authors' package (an optional extra)

        # Its own warmup stays off: a warmup is the schedule's (scheduler.warmup_steps), and the
        # package weighs the average by the rate it is given, warmup included.
        native = AdamWScheduleFree(groups, lr=0.0, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=wd,
                                   warmup_steps=0, r=spec.r, weight_lr_power=spec.weight_lr_power)
        native.train()  # it refuses to step in eval mode; evaluate() moves to x and back itself
        return native
    if spec.name == "adagrad":
        return torch.optim.Adagrad(groups, lr=0.0, eps=spec.eps, weight_decay=wd,
                                   initial_accumulator_value=spec.initial_accumulator_value)
    return torch.optim.RMSprop(groups, lr=0.0, alpha=spec.alpha, eps=spec.eps, weight_decay=wd,
                               momentum=spec.momentum, centered=spec.centered)


def _block(layer, in_shape, activation) -> nn.Module:
    """One spec layer, followed by ``activation``, as a module."""
    if layer.type == "conv":
        core = nn.Conv2d(in_shape[0], layer.channels, layer.kernel, padding=layer.padding)
    elif layer.type == "pool":
        pool = nn.MaxPool2d if layer.kind == "max" else nn.AvgPool2d
        core = pool(layer.kernel, stride=layer.stride or layer.kernel)
    elif layer.type == "flatten":
        core = nn.Flatten()
    elif layer.type == "global_avg_pool":
        core = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    elif layer.type == "batchnorm":  # harness.model's definition is PyTorch's own: no conversion
        norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        core = norm(in_shape[0], eps=layer.bn_eps, momentum=layer.bn_momentum)
    elif layer.type == "dropout":
        core = nn.Dropout(layer.rate)
    else:
        core = nn.Linear(in_shape[0], layer.units)
    activation = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), None: None}[activation]
    return nn.Sequential(core, activation) if activation else core


def _blocks(spec: ModelSpec) -> list[nn.Module]:
    """Modules in spec order, one per spec layer, activations placed by ``placed_activations``."""
    return [_block(layer, shape, activation)
            for layer, shape, activation in zip(spec.layers, spec.input_shapes(), placed_activations(spec))]


class TorchAdapter(AdapterBase):
    framework = "torch"
    framework_version = torch.__version__
    EVAL_BATCH = 500  # measured faster than 256, 2,000 or 10,000 on a 2-core CPU

    def __init__(self, spec: ModelSpec, optimizer: OptimizerSpec, device: str, seed: int, channels_last: bool = True) -> None:
        gpu = gpu_chosen(device, torch.cuda.is_available(), "PyTorch sees no CUDA GPU")
        self._device = torch.device("cuda:0" if gpu else "cpu")
        # TF32 would change float32 results on Ampere and newer GPUs: pin it off and record it.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self.settings = {"tf32": False, "channels_last": channels_last}
        torch.manual_seed(seed)
        blocks = _blocks(spec)
        # channels_last (NHWC) trains about 1.3x faster on CPU (measured). The layout decides the
        # convolution's summation order, hence which near-equal outputs tie exactly in max-pooling;
        # docs/parity.md shows NHWC matching TensorFlow and NCHW matching MXNet on raw images.
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.model = nn.Sequential(*blocks).to(self._device, memory_format=layout)
        self._params: dict[str, nn.Parameter] = {}
        self._buffers: dict[str, torch.Tensor] = {}  # batchnorm's running statistics
        for i, block in enumerate(blocks):
            core = block[0] if isinstance(block, nn.Sequential) else block
            if isinstance(core, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
                self._params[f"{i}.weight"] = core.weight
                self._params[f"{i}.bias"] = core.bias
            if isinstance(core, nn.modules.batchnorm._BatchNorm):
                self._buffers[f"{i}.running_mean"] = core.running_mean
                self._buffers[f"{i}.running_var"] = core.running_var
        self.spec = optimizer
        self.optimizer = _native_optimizer([(p, optimizer.multiplier(n)) for n, p in self._params.items()], optimizer)
        if self._device.type == "cuda":
            self.device = f"cuda:0 ({torch.cuda.get_device_name(0)})"
        else:
            self.device = "cpu"

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, param in self._params.items():
                param.copy_(torch.from_numpy(np.ascontiguousarray(weights[name])))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().contiguous().numpy().copy() for name, p in self._params.items()}

    def get_state(self) -> dict[str, np.ndarray]:
        state = self.get_weights()
        state.update({name: b.detach().cpu().contiguous().numpy().copy() for name, b in self._buffers.items()})
        for (name, param), group in zip(self._params.items(), self.optimizer.param_groups):
            held = self.optimizer.state.get(param, {})
            for slot in self.spec.slots():  # torch creates some lazily: zero (or the start value) until then
                buffer = held.get(TORCH_SLOT[slot])
                state[f"{slot}/{name}"] = (buffer.detach().cpu().contiguous().numpy().copy() if buffer is not None
                                           else state[name].copy() if slot == "z"  # z starts at the weights
                                           else np.full(param.shape, self.spec.initial_slot(slot), np.float32))
            for scalar in self.spec.scalars():  # schedulefree keeps them per parameter group
                state[f"{scalar}/{name}"] = np.array(group[scalar], dtype=np.float64)
            if self.spec.name == "schedule_free_adamw":
                state["step"] = np.array(group["k"], dtype=np.int64)
            elif self.spec.counts_steps:
                state["step"] = np.array(int(held["step"]) if "step" in held else 0, dtype=np.int64)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.set_weights(state)
        with torch.no_grad():
            for name, buffer in self._buffers.items():
                buffer.copy_(torch.from_numpy(np.ascontiguousarray(state[name])))
        self.optimizer.state.clear()
        for (name, param), group in zip(self._params.items(), self.optimizer.param_groups):
            held = self.optimizer.state[param]
            for slot in self.spec.slots():
                held[TORCH_SLOT[slot]] = torch.from_numpy(np.array(state[f"{slot}/{name}"])).to(self._device)
            for scalar in self.spec.scalars():
                group[scalar] = float(state[f"{scalar}/{name}"])
            if self.spec.name == "schedule_free_adamw":
                group["k"] = int(state["step"])
            elif self.spec.counts_steps:  # torch.optim keeps the count as a float32 CPU scalar per parameter
                held["step"] = torch.tensor(float(state["step"]), dtype=torch.float32)

    def set_data(self, train_x, train_y, test_x, test_y, val_x=None, val_y=None) -> None:
        to = lambda a: torch.from_numpy(a).to(self._device)  # noqa: E731
        self.train_x, self.train_y = to(train_x), to(train_y)
        self.test_x, self.test_y = to(test_x), to(test_y)
        self.val_x, self.val_y = (to(val_x), to(val_y)) if val_x is not None else (None, None)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.spec.momentum_name == "beta1":
            group["betas"] = (value, group["betas"][1])
        else:
            group["momentum"] = value

    def _momentum(self, group: dict) -> float:
        return group["betas"][0] if self.spec.momentum_name == "beta1" else group["momentum"]

    def train_epoch(self, order: np.ndarray, batch_size: int, lrs: Sequence[float], trace_lrs: bool = False,
                    momenta: Sequence[float] | None = None) -> EpochStats:
        self.model.train()
        order_t = torch.from_numpy(np.ascontiguousarray(order)).to(self._device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self._device)
        correct = torch.zeros((), dtype=torch.int64, device=self._device)
        updates = -(-len(order_t) // batch_size)
        momenta = None if momenta is None else momenta_or_constant(self.spec, momenta, updates)
        groups = self.optimizer.param_groups
        stats = EpochStats(0.0, 0, len(order_t))
        names = list(self._params)
        for i, start in enumerate(range(0, len(order_t), batch_size)):
            idx = order_t[start : start + batch_size]
            x, y = self.train_x.index_select(0, idx), self.train_y.index_select(0, idx)
            for group in groups:
                group["lr"] = float(lrs[i]) * group["lr_mult"]
                if momenta is not None:
                    self._set_momentum(group, float(momenta[i]))
            if trace_lrs:
                self._trace(stats, names, float(lrs[i]))
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():  # stays on the device: no host sync per batch
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(dim=1) == y).sum()
            if trace_lrs:
                stats.step_losses.append(loss.detach())
        stats.loss_sum, stats.correct = loss_sum.item(), int(correct.item())
        stats.step_losses = torch.stack(stats.step_losses).tolist() if stats.step_losses else []
        return stats

    def _trace(self, stats: EpochStats, names: list[str], scheduled: float) -> None:
        """What the parameter groups hold now: each parameter's rate, the scheduled rate (a group's
        rate over its multiplier; the scheduled one itself when every multiplier is 0) and the momentum."""
        groups = self.optimizer.param_groups
        for name, group in zip(names, groups):
            stats.applied_param_lrs.setdefault(name, []).append(group["lr"])
        scaled = [g for g in groups if g["lr_mult"] != 0]
        stats.applied_lrs.append(scaled[0]["lr"] / scaled[0]["lr_mult"] if scaled else scheduled)
        if self.spec.momentum_name is not None:
            stats.applied_momenta.append(self._momentum(groups[0]))

    # --- evaluation (the loop and the schedule-free swap are AdapterBase's) --------------------

    @torch.inference_mode()
    def _evaluate(self, split: str) -> EpochStats:
        self.model.eval()
        return super()._evaluate(split)

    def _eval_zeros(self):
        return (torch.zeros((), dtype=torch.float64, device=self._device),
                torch.zeros((), dtype=torch.int64, device=self._device))

    def _eval_batch(self, x, y):
        logits = self.model(x)
        return F.cross_entropy(logits, y, reduction="sum"), (logits.argmax(dim=1) == y).sum()

    def _to_host(self, value):
        return value.item()

    def _training_point(self) -> list:
        return [p.detach().clone() for p in self._params.values()]

    def _move_to_average(self) -> None:
        self.optimizer.eval()  # the package's own move to x

    def _restore_training_point(self, training_point: list) -> None:
        with torch.no_grad():
            for param, y in zip(self._params.values(), training_point):
                param.copy_(y)
        for group in self.optimizer.param_groups:  # what the package's train() would set, without moving
            group["train_mode"] = True

    def synchronize(self) -> None:
        if self._device.type == "cuda":
            torch.cuda.synchronize()

    # --- diagnostics (adapters/base.py): for tests and benchmarks ---------------------------------

    def apply_gradients(self, grads: dict[str, np.ndarray], lr: float, momentum: float | None = None) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
            if momentum is not None:
                self._set_momentum(group, float(momentum))
        for name, param in self._params.items():
            param.grad = torch.from_numpy(grads[name].copy()).to(self._device)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    @torch.inference_mode()
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Evaluation mode: batchnorm by its running statistics, no dropout."""
        self.model.eval()
        return self.model(torch.from_numpy(x).to(self._device)).cpu().numpy()

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """The mean cross-entropy of (x, y) and its gradients, at the current weights, in training
        mode (batchnorm by the batch's statistics, updating its running ones, as a training step does)."""
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(torch.from_numpy(x).to(self._device)), torch.from_numpy(y).to(self._device))
        loss.backward()
        grads = {name: p.grad.detach().cpu().contiguous().numpy().copy() for name, p in self._params.items()}
        self.model.zero_grad(set_to_none=True)
        return loss.item(), grads
