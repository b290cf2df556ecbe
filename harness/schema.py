"""The typed config schema: its dataclasses, the constants every layer shares, and ``Plain``.

The bottom of the config spine (docs/architecture.md): it imports nothing of the harness but
``paths`` and the dataset and framework registries (``datasets``, ``frameworks``), so every
module may read it. Every YAML file in ``conf/`` and ``experiments/`` is merged into these dataclasses (Hydra's ConfigStore holds them;
harness/config.py registers them), so a misspelled key (``epocs=3``) or a wrong type fails when
the config is composed, before any work starts. Semantic checks (positive rates, warmup shorter
than the horizon) live in harness/validate.py, which the CLI runs over every run of a sweep
before the first one trains.

Nothing here imports Hydra or OmegaConf (a third of a second together): a command that reuses
an already composed config (plot-schedule's cache, harness/compose_cache.py) is checked without
loading either.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Optional

from harness.datasets import DATASETS, dataset_info  # noqa: F401  (DATASETS: read from here by every layer)
from harness.frameworks import NAMES as FRAMEWORKS  # the framework registry's names, in report order
from harness.paths import CONF_DIR

# omegaconf.MISSING is this string, and OmegaConf reads a field whose default is this string as
# a required value; spelled here so the schema needs no omegaconf import (tests/test_config.py
# checks that the two agree).
MISSING = "???"

DEVICES = ("auto", "cpu", "cuda")
PROTOCOLS = ("clean", "d2l")
# The config groups (conf/<group>/, and experiments/ for presets): a ``group=option`` override.
CONFIG_GROUPS = ("framework", "model", "scheduler", "optimizer", "data", "experiments", "logger")

# Fashion-MNIST's sizes, the default dataset's (harness/datasets.py has every dataset's).
TRAIN_IMAGES = dataset_info("fashion_mnist").train_size
TEST_IMAGES = dataset_info("fashion_mnist").test_size
SEED_LIMIT = 2**32  # numpy's and the frameworks' seeds are unsigned 32-bit


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
    # Added after schema version 1 (harness.model documents them): null keeps the run_id of every
    # model written before them.
    momentum: Optional[float] = None  # batchnorm: the batch statistic's weight in the running ones (torch's)
    eps: Optional[float] = None  # batchnorm: added to the variance
    rate: Optional[float] = None  # dropout: the fraction of units zeroed while training


@dataclass
class ModelConfig:
    name: str = MISSING
    input_shape: List[int] = field(default_factory=lambda: [1, 28, 28])
    num_classes: int = 10
    init: str = "xavier_uniform"  # xavier_uniform | torch_default (harness.model.init_weights)
    layers: List[LayerConfig] = MISSING


@dataclass
class SchedulerConfig:
    """Every key of ``conf/scheduler/``. Past name, kind and unit, the keys are the parameters of
    the registered factories (harness.schedules.SCHEDULES), whose signatures and docstrings define
    them (meaning, default, valid range); tests/test_schedules.py checks that this list holds
    exactly those, each Optional with default None (unset: the factory's own default, so adding a
    key renames no run, harness/identity.py). A key a schedule does not take is refused by name,
    with the keys it does take."""

    name: str = MISSING  # the config option's name, recorded in the results
    kind: str = MISSING  # which registered factory builds it (harness.schedules.SCHEDULES)
    unit: str = "epoch"  # what t counts: epoch | step
    base_lr: float = MISSING
    final_lr: Optional[float] = None
    total_steps: Optional[int] = None  # null: derived from epochs (harness.schedules.resolve_lengths)
    warmup_steps: Optional[int] = None  # any schedule without a warmup of its own gets one in front
    warmup_begin_lr: Optional[float] = None
    factor: Optional[float] = None
    milestones: Optional[List[int]] = None
    monitor: Optional[str] = None
    patience: Optional[int] = None
    threshold: Optional[float] = None
    threshold_mode: Optional[str] = None
    cooldown: Optional[int] = None
    min_lr: Optional[float] = None
    warmup_shape: Optional[str] = None
    gamma: Optional[float] = None
    step_size: Optional[int] = None
    decay_rate: Optional[float] = None
    decay_steps: Optional[float] = None
    staircase: Optional[bool] = None
    power: Optional[float] = None
    cycle: Optional[bool] = None
    exponent: Optional[float] = None
    cycle_steps: Optional[float] = None
    cycle_mult: Optional[float] = None
    cycle_decay: Optional[float] = None
    cycle_warmup_steps: Optional[float] = None
    d_model: Optional[int] = None
    pct_start: Optional[float] = None
    pct_final: Optional[float] = None
    div_factor: Optional[float] = None
    final_div_factor: Optional[float] = None
    anneal: Optional[str] = None
    three_phase: Optional[bool] = None
    max_lr: Optional[float] = None
    step_size_up: Optional[float] = None
    step_size_down: Optional[float] = None
    mode: Optional[str] = None
    cycle_momentum: Optional[bool] = None
    base_momentum: Optional[float] = None
    max_momentum: Optional[float] = None
    decay_fraction: Optional[float] = None
    decay_shape: Optional[str] = None
    values: Optional[List[float]] = None
    phases: Optional[List[Dict[str, Any]]] = None  # a list of schedules, each with its kind
    boundaries: Optional[List[int]] = None
    factors: Optional[List[Dict[str, Any]]] = None  # a list of schedules, each with its kind

    @staticmethod
    def factory_params(cfg: Any) -> dict:
        """The scheduler config's keys the schedule's factory receives (a plain-dict copy)."""
        params = as_dict(cfg)
        for key in ("name", "kind", "unit"):
            params.pop(key, None)
        return params


@dataclass
class OptimizerConfig:
    """Every optimizer's hyperparameters (docs/optimizers.md); the defaults are plain SGD's and
    PyTorch's, and a rule rejects a key it does not read unless it is at its default."""

    name: str = "sgd"  # sgd | adam | adamw | adagrad | rmsprop | schedule_free_adamw
    momentum: float = 0.0  # sgd, rmsprop: b = momentum*b + g, w -= lr*b
    nesterov: bool = False  # sgd
    beta1: float = 0.9  # adam, adamw
    beta2: float = 0.999  # adam, adamw
    eps: float = 1e-8  # adam, adamw, adagrad, rmsprop
    weight_decay: float = 0.0  # L2 added to the gradient; adamw: decoupled, w *= 1 - lr*weight_decay
    alpha: float = 0.99  # rmsprop: decay of the mean square
    centered: bool = False  # rmsprop
    initial_accumulator_value: float = 0.0  # adagrad
    r: float = 0.0  # schedule_free_adamw: update t weighs t^r * lr_max^weight_lr_power in the average
    weight_lr_power: float = 2.0  # schedule_free_adamw
    lr_mult: Any = None  # layer (conv1, dense2) or type (conv) -> multiplier; null: all 1


@dataclass
class DataConfig:
    name: str = "fashion_mnist"
    root: Optional[str] = None  # first place to look for the IDX files
    download: bool = True  # fetch from upstream into the user cache if found nowhere
    train_size: Optional[int] = None  # a seeded subset of the training images, for quick runs
    test_size: Optional[int] = None
    subset_seed: int = 0  # the subset stays the same whatever the run's seed
    val_size: Optional[int] = None  # a stratified validation split carved from the training images
    val_seed: int = 0  # the split stays the same whatever the run's seed


@dataclass
class MlflowLoggerConfig:
    tracking_uri: Optional[str] = None  # None: a local store, sqlite:///<results_dir>/_mlflow/mlflow.db
    experiment: str = "harness"


@dataclass
class TensorBoardLoggerConfig:
    pass  # event files go to <run_dir>/_tensorboard/; nothing to choose yet


@dataclass
class LoggerConfig:
    """Tracking sinks (``logger=mlflow``, ``logger=[mlflow,tensorboard]``): copies of the parquet
    results, never part of a run's identity. A null entry is a sink that is off."""

    mlflow: Optional[MlflowLoggerConfig] = None
    tensorboard: Optional[TensorBoardLoggerConfig] = None


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
    logger: LoggerConfig = field(default_factory=LoggerConfig)  # tracking sinks; not in run_id


@lru_cache(maxsize=None)
def scheduler_kinds() -> dict[str, str]:
    """Each scheduler option (conf/scheduler/<name>.yaml) and the kind of schedule it builds.

    Read with PyYAML's safe loader: OmegaConf parses YAML with PyYAML too, and for the plain word
    under ``kind`` the two agree (tests/test_config.py), so validating needs no omegaconf."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where it is built
    return {path.stem: yaml.load(path.read_text(), Loader=loader)["kind"]
            for path in sorted((CONF_DIR / "scheduler").glob("*.yaml"))}


def max_train_images(data: Any) -> int:
    """Training images left for ``train_size`` once a validation split (if any) is carved out."""
    return split_images(data, "train") - (data.get("val_size") or 0)


def split_images(data: Any, split: str) -> int:
    """The size of the ``train`` or ``test`` split of the dataset ``data.name`` names (the registry's)."""
    return dataset_info(data.get("name") or "fashion_mnist").split_size(split)


class Plain(dict):
    """A resolved config as plain dicts and lists, read like an OmegaConf one (``cfg.data.name``).

    OmegaConf builds a node per value: copying, converting or creating one config costs
    milliseconds, which a sweep of thousands of runs cannot pay per run. Below the command line
    every config is a ``Plain`` one (harness/validate.py converts Hydra's once).
    """

    __slots__ = ()

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    @classmethod
    def of(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return cls({k: cls.of(v) for k, v in value.items()})
        if isinstance(value, list):
            return [cls.of(v) for v in value]
        return value


def as_dict(cfg: Any) -> dict:
    """A resolved, independent plain-dict copy of a config: dicts and lists only. The one place
    an OmegaConf config (Hydra's, or a YAML file OmegaConf read) is told from a plain one."""
    if isinstance(cfg, dict):
        return _plain_copy(cfg)
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def _plain_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    return value


def as_plain(cfg: Any) -> Plain:
    return cfg if isinstance(cfg, Plain) else Plain.of(as_dict(cfg))


@functools.lru_cache(maxsize=None)
def _hints(schema: type) -> dict:
    return typing.get_type_hints(schema)


@functools.lru_cache(maxsize=None)
def nested_fields(schema: type) -> dict:
    """Each field of ``schema`` and the dataclass it holds (None for a plain value)."""
    return {name: _dataclass_in(hint) for name, hint in _hints(schema).items()}


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field holds (directly, in Optional[...] or in List[...]), if any."""
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        found = _dataclass_in(arg)
        if found is not None:
            return found
    return None


def schema_defaults(schema: type | None = None) -> dict:
    """The schema's default for every key: ``{"scheduler": {"unit": "epoch", ...}, ...}``;
    a key without a default (``MISSING``) is left out."""
    return copy.deepcopy(cached_defaults(schema or HarnessConfig))


@functools.lru_cache(maxsize=None)
def cached_defaults(schema: type) -> dict:
    """``schema_defaults`` without the copy: never change what it returns."""
    defaults: dict[str, Any] = {}
    hints = _hints(schema)
    for f in dataclasses.fields(schema):
        nested = _dataclass_in(hints[f.name])
        if nested is not None:
            defaults[f.name] = cached_defaults(nested)
        elif f.default is not dataclasses.MISSING and f.default != MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults
