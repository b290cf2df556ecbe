"""The typed config schema, registered in Hydra's ConfigStore.

Every YAML file in ``conf/`` and ``experiments/`` is merged into these dataclasses, so a
misspelled key (``epocs=3``) or a wrong type fails when the config is composed, before any
work starts. Semantic checks (positive rates, warmup shorter than the horizon) live in
``validate``, which the CLI runs over every run of a sweep before the first one trains.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.errors import HarnessError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"

FRAMEWORKS = ("torch", "tf", "mxnet")
DEVICES = ("auto", "cpu", "cuda")
PROTOCOLS = ("clean", "d2l")


@dataclass
class FrameworkConfig:
    name: str = MISSING


@dataclass
class LayerConfig:
    type: str = MISSING
    channels: Optional[int] = None
    units: Optional[int] = None
    kernel: Optional[int] = None
    padding: int = 0
    stride: Optional[int] = None
    kind: Optional[str] = None
    activation: Optional[str] = None


@dataclass
class ModelConfig:
    name: str = MISSING
    input_shape: List[int] = field(default_factory=lambda: [1, 28, 28])
    num_classes: int = 10
    init: str = "xavier_uniform"  # xavier_uniform | torch_default (harness.model.init_weights)
    layers: List[LayerConfig] = MISSING


@dataclass
class SchedulerConfig:
    name: str = MISSING  # the config option's name, recorded in the results
    kind: str = MISSING  # which factory in harness.schedules builds it
    unit: str = "epoch"  # what t counts: epoch | step
    base_lr: float = MISSING
    final_lr: Optional[float] = None
    total_steps: Optional[int] = None
    warmup_steps: Optional[int] = None
    warmup_begin_lr: Optional[float] = None
    factor: Optional[float] = None
    milestones: Optional[List[int]] = None

    @staticmethod
    def factory_params(cfg: Any) -> dict:
        params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        for key in ("name", "kind", "unit"):
            params.pop(key, None)
        return params


@dataclass
class OptimizerConfig:
    """Every optimizer's hyperparameters (docs/optimizers.md); the defaults are plain SGD's and
    PyTorch's, and a rule rejects a key it does not read unless it is at its default."""

    name: str = "sgd"  # sgd | adam | adamw | adagrad | rmsprop
    momentum: float = 0.0  # sgd, rmsprop: b = momentum*b + g, w -= lr*b
    nesterov: bool = False  # sgd
    beta1: float = 0.9  # adam, adamw
    beta2: float = 0.999  # adam, adamw
    eps: float = 1e-8  # adam, adamw, adagrad, rmsprop
    weight_decay: float = 0.0  # L2 added to the gradient; adamw: decoupled, w *= 1 - lr*weight_decay
    alpha: float = 0.99  # rmsprop: decay of the mean square
    centered: bool = False  # rmsprop
    initial_accumulator_value: float = 0.0  # adagrad
    lr_mult: Any = None  # layer (conv1, dense2) or type (conv) -> multiplier; null: all 1


@dataclass
class DataConfig:
    name: str = "fashion_mnist"
    root: Optional[str] = None  # first place to look for the IDX files
    download: bool = True  # fetch from upstream into the user cache if found nowhere
    train_size: Optional[int] = None  # a seeded subset of the training images, for quick runs
    test_size: Optional[int] = None
    subset_seed: int = 0  # the subset stays the same whatever the run's seed


@dataclass
class HarnessConfig:
    framework: FrameworkConfig = MISSING
    model: ModelConfig = MISSING
    scheduler: SchedulerConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    data: DataConfig = MISSING
    protocol: str = "clean"
    epochs: int = 30
    batch_size: int = 256
    seed: int = 0
    device: str = "auto"
    results_dir: str = "results"
    progress: bool = True  # per-epoch progress bar; display only
    threads: int = 0  # CPU threads per run (0: the framework's default); set 1 for parallel runs
    keep_checkpoint: bool = False  # keep _checkpoint.* after the run finishes
    rerun: bool = False  # train again even if finished; the old results are moved to _superseded/


def register_configs() -> None:
    """The schema, and the presets in experiments/ as the config group ``experiments``.

    The presets live beside conf/, not in it; storing them here (a few small YAML files) is
    cheaper and tidier than putting the project root on Hydra's search path, which would
    expose every YAML file under it (.venv included) as a config group.
    """
    from harness.optimizers import register_resolvers

    register_resolvers()  # ${optimizer_lr:...}, for experiments/optimizers.yaml
    store = ConfigStore.instance()
    store.store(name="harness_schema", node=HarnessConfig)
    for path in sorted(EXPERIMENTS_DIR.glob("*.yaml")):
        store.store(group="experiments", name=path.stem, node=OmegaConf.load(path), package="_global_")


# Settings that do not change what a run computes; left out of run_id.
NOT_IDENTITY = ("results_dir", "progress", "threads", "keep_checkpoint", "rerun")
NOT_IDENTITY_DATA = ("root", "download")


def identity(cfg: DictConfig) -> dict:
    """The resolved config fields that decide the result."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key in NOT_IDENTITY:
        plain.pop(key, None)
    for key in NOT_IDENTITY_DATA:
        plain["data"].pop(key, None)
    return plain


def run_id(cfg: DictConfig) -> str:
    """Same config, same id: a short hash of the fields that change the result."""
    canonical = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def validate(cfg: DictConfig) -> None:
    """Check values the schema cannot; raise HarnessError naming the value and the fix."""
    from harness import d2l_tabs, optimizers
    from harness.model import spec_from_config
    from harness.schedules import UNITS, build_schedule

    if cfg.framework.name not in FRAMEWORKS:
        raise HarnessError(f"framework={cfg.framework.name!r} is unknown; choose one of {', '.join(FRAMEWORKS)}")
    if cfg.device not in DEVICES:
        raise HarnessError(f"device={cfg.device!r} is unknown; choose one of {', '.join(DEVICES)}")
    if cfg.protocol not in PROTOCOLS:
        raise HarnessError(f"protocol={cfg.protocol!r} is unknown; choose one of {', '.join(PROTOCOLS)}")
    if cfg.epochs <= 0:
        raise HarnessError(f"epochs={cfg.epochs} must be at least 1")
    if cfg.batch_size <= 0:
        raise HarnessError(f"batch_size={cfg.batch_size} must be at least 1")
    if cfg.threads < 0:
        raise HarnessError(f"threads={cfg.threads} must be 0 (the framework's default) or a positive count")
    optimizers.validate(cfg)
    for key in ("train_size", "test_size"):
        size = cfg.data[key]
        if size is not None and size <= 0:
            raise HarnessError(f"data.{key}={size} must be a positive number of images (or null for all)")
    train_size = cfg.data.train_size or 60_000
    if cfg.batch_size > train_size:
        raise HarnessError(f"batch_size={cfg.batch_size} is larger than the {train_size} training images; lower it")
    if cfg.scheduler.unit not in UNITS:
        raise HarnessError(f"scheduler.unit={cfg.scheduler.unit!r} must be one of {', '.join(UNITS)}")
    try:
        build_schedule(cfg.scheduler.kind, SchedulerConfig.factory_params(cfg.scheduler))
    except ValueError as exc:
        raise HarnessError(f"scheduler={cfg.scheduler.name}: {exc}") from None
    spec_from_config(cfg.model)
    if cfg.protocol == "d2l" and cfg.scheduler.kind not in d2l_tabs.TRAINED_KINDS:
        raise HarnessError(
            f"scheduler={cfg.scheduler.name} was never trained in the d2l chapter, so protocol=d2l "
            f"cannot reproduce it; use protocol=clean"
        )
