"""A framework-neutral description of a small CNN and its initial weights.

Every adapter builds its network from a ``ModelSpec`` and loads the same numpy weights, so
two frameworks can start from identical parameters. Canonical layouts (PyTorch's):
conv kernels ``(out, in, kh, kw)``, dense kernels ``(out, in)``, and a dense layer after
``flatten`` sees its input in channel-major (C, H, W) order. Adapters for channel-last
frameworks transpose on the way in and out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from harness.errors import HarnessError

LAYER_TYPES = ("conv", "pool", "flatten", "dense")
ACTIVATIONS = (None, "relu", "sigmoid")
POOL_KINDS = ("max", "avg")
INITS = ("xavier_uniform", "torch_default")


@dataclass(frozen=True)
class Layer:
    type: str
    channels: int | None = None  # conv: output channels
    units: int | None = None  # dense: output units
    kernel: int | None = None  # conv kernel size, pool window
    padding: int = 0
    stride: int | None = None  # pool stride (defaults to the window)
    kind: str | None = None  # pool: max | avg
    activation: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    layers: tuple[Layer, ...]

    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shape each layer receives: (C, H, W) up to flatten, (features,) after it."""
        shape: tuple[int, ...] = self.input_shape
        shapes = []
        for layer in self.layers:
            shapes.append(shape)
            if layer.type == "conv":
                c, h, w = shape
                grow = 2 * layer.padding - layer.kernel + 1
                shape = (layer.channels, h + grow, w + grow)
            elif layer.type == "pool":
                c, h, w = shape
                stride = layer.stride or layer.kernel
                shape = (c, (h - layer.kernel) // stride + 1, (w - layer.kernel) // stride + 1)
            elif layer.type == "flatten":
                shape = (int(np.prod(shape)),)
            elif layer.type == "dense":
                shape = (layer.units,)
        return shapes

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> canonical shape, in layer order: ``<index>.weight`` and ``<index>.bias``."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (layer, in_shape) in enumerate(zip(self.layers, self.input_shapes())):
            if layer.type == "conv":
                shapes[f"{i}.weight"] = (layer.channels, in_shape[0], layer.kernel, layer.kernel)
                shapes[f"{i}.bias"] = (layer.channels,)
            elif layer.type == "dense":
                shapes[f"{i}.weight"] = (layer.units, in_shape[0])
                shapes[f"{i}.bias"] = (layer.units,)
        return shapes

    def feature_shape_before_flatten(self) -> tuple[int, int, int]:
        """(C, H, W) of the tensor that ``flatten`` receives; adapters need it to reorder weights."""
        for layer, in_shape in zip(self.layers, self.input_shapes()):
            if layer.type == "flatten":
                return in_shape
        raise HarnessError(f"model {self.name!r} has no flatten layer")

    def num_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.param_shapes().values())


COMMUTES_WITH_MAX = ("relu", "sigmoid")  # monotone: act(max(x)) == max(act(x)) exactly


def placed_activations(spec: ModelSpec) -> list[str | None]:
    """The activation each adapter applies after each spec layer.

    A conv whose monotone activation feeds a max-pool gets the activation *after* the pool:
    max and a monotone function commute exactly, forward and backward (a gradient reaches the
    same input either way), and the activation then touches a quarter of the values. In
    PyTorch this made the LeNet training step about 13% faster on CPU (ReLU was 18% of it).
    """
    placed, moved = [], None
    for i, layer in enumerate(spec.layers):
        activation = layer.activation
        following = spec.layers[i + 1] if i + 1 < len(spec.layers) else None
        if layer.type == "conv" and activation in COMMUTES_WITH_MAX and following is not None \
                and following.type == "pool" and following.kind == "max":
            moved, activation = activation, None
        elif layer.type == "pool" and moved:
            activation, moved = moved, None
        placed.append(activation)
    return placed


def spec_from_config(cfg: Mapping[str, Any]) -> ModelSpec:
    """Build and validate a spec from the ``model`` config group."""
    if cfg.get("init", "xavier_uniform") not in INITS:
        raise HarnessError(f"model.init={cfg['init']!r} is unknown; choose one of {', '.join(INITS)}")
    layers = tuple(_layer_from_config(i, dict(item)) for i, item in enumerate(cfg["layers"]))
    spec = ModelSpec(
        name=str(cfg["name"]),
        input_shape=tuple(int(v) for v in cfg["input_shape"]),
        num_classes=int(cfg["num_classes"]),
        layers=layers,
    )
    _validate(spec)
    return spec


def _layer_from_config(index: int, item: dict) -> Layer:
    fields = set(Layer.__dataclass_fields__)
    unknown = sorted(k for k, v in item.items() if k not in fields)
    if unknown:
        raise HarnessError(f"model layer {index} has unknown keys {unknown}; allowed: {sorted(fields)}")
    layer = Layer(**{k: v for k, v in item.items() if v is not None or k == "activation"})
    if layer.type not in LAYER_TYPES:
        raise HarnessError(f"model layer {index} type={layer.type!r}; known types: {', '.join(LAYER_TYPES)}")
    if layer.activation not in ACTIVATIONS:
        raise HarnessError(f"model layer {index} activation={layer.activation!r}; known: relu, sigmoid or null")
    if layer.type == "conv" and not (layer.channels and layer.kernel):
        raise HarnessError(f"model layer {index} (conv) needs channels and kernel")
    if layer.type == "pool" and (layer.kind not in POOL_KINDS or not layer.kernel):
        raise HarnessError(f"model layer {index} (pool) needs kind (max | avg) and kernel")
    if layer.type == "dense" and not layer.units:
        raise HarnessError(f"model layer {index} (dense) needs units")
    return layer


def _validate(spec: ModelSpec) -> None:
    types = [layer.type for layer in spec.layers]
    if types.count("flatten") != 1:
        raise HarnessError(f"model {spec.name!r} needs exactly one flatten layer, has {types.count('flatten')}")
    flat_at = types.index("flatten")
    if any(t != "dense" for t in types[flat_at + 1 :]) or "dense" in types[:flat_at]:
        raise HarnessError(f"model {spec.name!r}: only dense layers may follow flatten, and only there")
    if spec.layers[-1].units != spec.num_classes:
        raise HarnessError(f"model {spec.name!r}: last layer has {spec.layers[-1].units} units, expected {spec.num_classes}")
    c, h, w = spec.feature_shape_before_flatten()
    if min(c, h, w) <= 0:
        raise HarnessError(f"model {spec.name!r}: feature map shrinks to {(c, h, w)} before flatten")


def init_weights(spec: ModelSpec, seed: int, init: str = "xavier_uniform") -> dict[str, np.ndarray]:
    """Initial weights, float32, drawn in layer order from ``seed``; the same in every framework.

    xavier_uniform: kernels U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), zero biases
    (Glorot/Xavier: Keras's default and MXNet's ``init.Xavier()``).
    torch_default: kernels and biases U(-b, b) with b = 1 / sqrt(fan_in) (what nn.Conv2d and
    nn.Linear draw by default: kaiming_uniform with a = sqrt(5)).
    """
    if init not in INITS:
        raise HarnessError(f"model.init={init!r} is unknown; choose one of {', '.join(INITS)}")
    rng = np.random.default_rng(seed)
    weights = {}
    fan_in = 1
    for name, shape in spec.param_shapes().items():
        if name.endswith(".bias"):
            if init == "torch_default":
                bound = 1.0 / np.sqrt(fan_in)  # fan_in of the kernel just drawn
                weights[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
            else:
                weights[name] = np.zeros(shape, dtype=np.float32)
            continue
        receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        fan_out, fan_in = shape[0] * receptive, shape[1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out)) if init == "xavier_uniform" else 1.0 / np.sqrt(fan_in)
        weights[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
    return weights
