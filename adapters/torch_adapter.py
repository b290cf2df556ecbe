"""PyTorch adapter: the contract of ``adapters/base.py`` in PyTorch."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adapters.base import EpochStats
from harness.model import ModelSpec, placed_activations

EVAL_BATCH = 500  # without gradients; measured faster than 256, 2,000 or 10,000 on a 2-core CPU


def _block(layer, in_shape, activation) -> nn.Module:
    """One spec layer, followed by ``activation``, as a module."""
    if layer.type == "conv":
        core = nn.Conv2d(in_shape[0], layer.channels, layer.kernel, padding=layer.padding)
    elif layer.type == "pool":
        pool = nn.MaxPool2d if layer.kind == "max" else nn.AvgPool2d
        core = pool(layer.kernel, stride=layer.stride or layer.kernel)
    elif layer.type == "flatten":
        core = nn.Flatten()
    else:
        core = nn.Linear(in_shape[0], layer.units)
    activation = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), None: None}[activation]
    return nn.Sequential(core, activation) if activation else core


def _blocks(spec: ModelSpec) -> list[nn.Module]:
    """Modules in spec order, one per spec layer, activations placed by ``placed_activations``."""
    return [_block(layer, shape, activation)
            for layer, shape, activation in zip(spec.layers, spec.input_shapes(), placed_activations(spec))]


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        from harness.errors import HarnessError

        raise HarnessError("device=cuda but PyTorch sees no CUDA GPU; use device=auto or device=cpu")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda:0")
    return torch.device("cpu")


class TorchAdapter:
    framework = "torch"
    framework_version = torch.__version__

    def __init__(self, spec: ModelSpec, momentum: float, device: str, seed: int, channels_last: bool = True) -> None:
        self._device = resolve_device(device)
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
        for i, block in enumerate(blocks):
            core = block[0] if isinstance(block, nn.Sequential) else block
            if isinstance(core, (nn.Conv2d, nn.Linear)):
                self._params[f"{i}.weight"] = core.weight
                self._params[f"{i}.bias"] = core.bias
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.0, momentum=momentum)
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
        for name, param in self._params.items():
            buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                state[f"momentum/{name}"] = buffer.detach().cpu().contiguous().numpy().copy()
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.set_weights(state)
        self.optimizer.state.clear()
        for name, param in self._params.items():
            if f"momentum/{name}" in state:
                buffer = torch.from_numpy(np.ascontiguousarray(state[f"momentum/{name}"])).to(self._device)
                self.optimizer.state[param]["momentum_buffer"] = buffer

    def set_data(self, train_x, train_y, test_x, test_y, val_x=None, val_y=None) -> None:
        to = lambda a: torch.from_numpy(a).to(self._device)  # noqa: E731
        self.train_x, self.train_y = to(train_x), to(train_y)
        self.test_x, self.test_y = to(test_x), to(test_y)
        self.val_x, self.val_y = (to(val_x), to(val_y)) if val_x is not None else (None, None)

    def train_epoch(self, order: np.ndarray, batch_size: int, lrs: Sequence[float], trace_lrs: bool = False) -> EpochStats:
        self.model.train()
        order_t = torch.from_numpy(np.ascontiguousarray(order)).to(self._device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self._device)
        correct = torch.zeros((), dtype=torch.int64, device=self._device)
        applied = []
        group = self.optimizer.param_groups[0]
        for i, start in enumerate(range(0, len(order_t), batch_size)):
            idx = order_t[start : start + batch_size]
            x, y = self.train_x.index_select(0, idx), self.train_y.index_select(0, idx)
            group["lr"] = float(lrs[i])
            if trace_lrs:
                applied.append(self.optimizer.param_groups[0]["lr"])
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():  # stays on the device: no host sync per batch
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(dim=1) == y).sum()
        return EpochStats(loss_sum.item(), int(correct.item()), len(order_t), applied)

    @torch.inference_mode()
    def evaluate(self, split: str = "test") -> EpochStats:
        self.model.eval()
        xs, ys = (self.val_x, self.val_y) if split == "val" else (self.test_x, self.test_y)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self._device)
        correct = torch.zeros((), dtype=torch.int64, device=self._device)
        for start in range(0, len(ys), EVAL_BATCH):
            x, y = xs[start : start + EVAL_BATCH], ys[start : start + EVAL_BATCH]
            logits = self.model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
        return EpochStats(loss_sum.item(), int(correct.item()), len(ys))

    def synchronize(self) -> None:
        if self._device.type == "cuda":
            torch.cuda.synchronize()
