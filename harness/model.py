"""A framework-neutral description of a small network and its initial weights.

Every adapter builds its network from a ``ModelSpec`` and loads the same numpy weights, so
two frameworks can start from identical parameters. Canonical layouts (PyTorch's):
conv kernels ``(out, in, kh, kw)``, dense kernels ``(out, in)``, and a dense layer after
``flatten`` sees its input in channel-major (C, H, W) order. Adapters for channel-last
frameworks transpose on the way in and out.

Layers: conv, pool (max | avg), flatten, dense, and the layers of the modern networks:

- ``batchnorm``: batch normalisation over the channels (after a conv) or the features (after
  flatten), with a learned scale ``<i>.weight`` (1 at the start) and shift ``<i>.bias`` (0), and
  running statistics ``<i>.running_mean`` (0) and ``<i>.running_var`` (1), which are state, not
  parameters: no optimizer touches them, checkpoints carry them (``buffer_shapes``). One
  definition in every framework, PyTorch's: training normalises by the batch's mean and biased
  variance, then ``running = (1 - momentum) * running + momentum * batch`` with the batch's
  *unbiased* variance (n / (n - 1) times the biased one, n the values per channel); evaluation
  normalises by the running statistics. ``momentum`` (default 0.1) is the batch's weight, as in
  PyTorch; Keras and MXNet call the keep-fraction ``momentum`` (0.9): the adapters convert.
  ``eps`` (default 1e-5) is added to the variance.
- ``dropout``: zeroes a fraction ``rate`` of the values while training and scales the rest by
  1 / (1 - rate); identity in evaluation. Its masks come from each framework's own generator,
  seeded by the run's seed, so they differ between frameworks (and a resumed run draws other
  masks than an uninterrupted one): dropout is kept out of the parity tests.
- ``global_avg_pool``: the mean of each channel over its H x W; like ``flatten`` it turns the
  image into a vector (C,), so a model has exactly one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from harness.errors import HarnessError

LAYER_TYPES = ("conv", "pool", "flatten", "dense", "batchnorm", "dropout", "global_avg_pool")
TO_VECTOR = ("flatten", "global_avg_pool")  # exactly one per model: images before it, vectors after
ACTIVATED = ("conv", "pool", "dense", "batchnorm")  # layers that may carry an activation
BN_MOMENTUM = 0.1  # PyTorch's default: the batch statistic's weight in the running one
BN_EPS = 1e-5
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
    momentum: float | None = None  # batchnorm: the batch's weight in the running statistics (BN_MOMENTUM)
    eps: float | None = None  # batchnorm (BN_EPS)
    rate: float | None = None  # dropout

    @property
    def bn_momentum(self) -> float:
        return BN_MOMENTUM if self.momentum is None else float(self.momentum)

    @property
    def bn_eps(self) -> float:
        return BN_EPS if self.eps is None else float(self.eps)


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
            elif layer.type == "global_avg_pool":
                shape = (shape[0],)
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
            elif layer.type == "batchnorm":
                shapes[f"{i}.weight"] = (in_shape[0],)
                shapes[f"{i}.bias"] = (in_shape[0],)
        return shapes

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        """State that is not a parameter: batchnorm's running statistics, ``<i>.running_mean`` and
        ``<i>.running_var``, in layer order."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (layer, in_shape) in enumerate(zip(self.layers, self.input_shapes())):
            if layer.type == "batchnorm":
                shapes[f"{i}.running_mean"] = shapes[f"{i}.running_var"] = (in_shape[0],)
        return shapes

    def initial_buffers(self) -> dict[str, np.ndarray]:
        """Running means 0, running variances 1 (every framework's start)."""
        return {name: (np.zeros if name.endswith("mean") else np.ones)(shape, dtype=np.float32)
                for name, shape in self.buffer_shapes().items()}

    def flattens(self) -> bool:
        """Whether the image becomes a vector by ``flatten`` (whose order the channel-last adapters
        must translate) rather than by ``global_avg_pool``."""
        return any(layer.type == "flatten" for layer in self.layers)

    def feature_shape_before_flatten(self) -> tuple[int, int, int]:
        """(C, H, W) of the tensor that ``flatten`` receives; adapters need it to reorder weights."""
        for layer, in_shape in zip(self.layers, self.input_shapes()):
            if layer.type == "flatten":
                return in_shape
        raise HarnessError(f"model {self.name!r} has no flatten layer")

    def batchnorm_layers(self) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if layer.type == "batchnorm"]

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
    if layer.activation is not None and layer.type not in ACTIVATED:
        raise HarnessError(f"model layer {index} ({layer.type}) takes no activation; put it on the layer before")
    if layer.type == "batchnorm" and not (0 < layer.bn_momentum <= 1 and layer.bn_eps > 0):
        raise HarnessError(f"model layer {index} (batchnorm) needs 0 < momentum <= 1 and eps > 0 "
                           f"(momentum={layer.momentum}, eps={layer.eps})")
    if layer.type == "dropout" and not (layer.rate is not None and 0 <= layer.rate < 1):
        raise HarnessError(f"model layer {index} (dropout) needs a rate in [0, 1), has rate={layer.rate}")
    settings = {"momentum": "batchnorm", "eps": "batchnorm", "rate": "dropout"}
    for key, owner in settings.items():
        if getattr(layer, key) is not None and layer.type != owner:
            raise HarnessError(f"model layer {index} ({layer.type}) sets {key}, which only a {owner} layer reads; remove it")
    if layer.type == "conv" and not (layer.channels and layer.kernel):
        raise HarnessError(f"model layer {index} (conv) needs channels and kernel")
    if layer.type == "pool" and (layer.kind not in POOL_KINDS or not layer.kernel):
        raise HarnessError(f"model layer {index} (pool) needs kind (max | avg) and kernel")
    if layer.type == "dense" and not layer.units:
        raise HarnessError(f"model layer {index} (dense) needs units")
    return layer


IMAGE_LAYERS = ("conv", "pool", "batchnorm", "dropout")  # before flatten / global_avg_pool
VECTOR_LAYERS = ("dense", "batchnorm", "dropout")  # after it


def _validate(spec: ModelSpec) -> None:
    types = [layer.type for layer in spec.layers]
    turns = [i for i, t in enumerate(types) if t in TO_VECTOR]
    if len(turns) != 1:
        raise HarnessError(f"model {spec.name!r} needs exactly one flatten or global_avg_pool layer, has {len(turns)}")
    flat_at = turns[0]
    if any(t not in IMAGE_LAYERS for t in types[:flat_at]) or any(t not in VECTOR_LAYERS for t in types[flat_at + 1 :]):
        raise HarnessError(f"model {spec.name!r}: before {types[flat_at]} only {', '.join(IMAGE_LAYERS)} layers may come, "
                           f"after it only {', '.join(VECTOR_LAYERS)}")
    if types[-1] != "dense" or spec.layers[-1].units != spec.num_classes:
        raise HarnessError(f"model {spec.name!r}: the last layer must be dense with {spec.num_classes} units")
    c, h, w = spec.input_shapes()[flat_at]
    if min(c, h, w) <= 0:
        raise HarnessError(f"model {spec.name!r}: feature map shrinks to {(c, h, w)} before {types[flat_at]}")


def init_weights(spec: ModelSpec, seed: int, init: str = "xavier_uniform") -> dict[str, np.ndarray]:
    """Initial weights, float32, drawn in layer order from ``seed``; the same in every framework.

    xavier_uniform: kernels U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), zero biases
    (Glorot/Xavier: Keras's default and MXNet's ``init.Xavier()``).
    torch_default: kernels and biases U(-b, b) with b = 1 / sqrt(fan_in) (what nn.Conv2d and
    nn.Linear draw by default: kaiming_uniform with a = sqrt(5)).
    Batchnorm's scale is 1 and its shift 0 under either, drawing nothing: a network without
    batchnorm draws exactly what it drew before batchnorm existed.
    """
    if init not in INITS:
        raise HarnessError(f"model.init={init!r} is unknown; choose one of {', '.join(INITS)}")
    rng = np.random.default_rng(seed)
    weights = {}
    fan_in = 1
    normalised = {f"{i}.{part}" for i in spec.batchnorm_layers() for part in ("weight", "bias")}
    for name, shape in spec.param_shapes().items():
        if name in normalised:
            weights[name] = (np.ones if name.endswith(".weight") else np.zeros)(shape, dtype=np.float32)
            continue
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
