"""What a run is: its canonical config, its identity, its folder and its labels.

A composed config becomes a run in one place, ``canonical_config``: values that mean the same
experiment are written one way (``data.train_size=60000`` is "all", the same as unset), values
out of range are refused, and the result is a plain resolved config. From it, and only from it,
come ``run_id``, the run folder (``run_dir``), the identity columns of every parquet row and the
``_config.yaml`` beside them.

``run_id`` is a hash of the settings that change what is computed. It must never move under a
finished run, or sweeps would train it again, so it is built in two parts:

- the keys that existed when results were first written (``V1_KEYS``: the keys of schema
  version 1, the committed study's) are hashed exactly as they always were, nulls included;
- every key added since enters the hash only when it differs from its schema default. Adding a
  key with a default therefore renames nothing, and a run that sets it is a new run.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:  # omegaconf is imported where an OmegaConf config is handled: Plain ones need none
    from omegaconf import DictConfig

# Settings that do not change what a run computes, only where or how visibly it runs.
NOT_IDENTITY = ("results_dir", "progress", "threads", "keep_checkpoint", "rerun", "logger")
NOT_IDENTITY_DATA = ("root", "download")

# The identity keys of schema version 1, as dotted paths (``[]`` stands for every list item).
V1_KEYS = frozenset(
    ["framework.name", "protocol", "epochs", "batch_size", "seed", "device"]
    + [f"model.{k}" for k in ("name", "input_shape", "num_classes", "init", "layers")]
    + [f"model.layers[].{k}" for k in ("type", "channels", "units", "kernel", "padding", "stride", "kind", "activation")]
    + [f"scheduler.{k}" for k in ("name", "kind", "unit", "base_lr", "final_lr", "total_steps", "warmup_steps",
                                  "warmup_begin_lr", "factor", "milestones")]
    + ["optimizer.name", "optimizer.momentum"]
    + [f"data.{k}" for k in ("name", "train_size", "test_size", "subset_seed")]
)

TRAIN_IMAGES = 60_000  # Fashion-MNIST's training set
TEST_IMAGES = 10_000
DATASETS = ("fashion_mnist",)
SEED_LIMIT = 2**32  # numpy's and the frameworks' seeds are unsigned 32-bit

class Plain(dict):
    """A resolved config as plain dicts and lists, read like an OmegaConf one (``cfg.data.name``).

    OmegaConf builds a node per value: copying, converting or creating one config costs
    milliseconds, which a sweep of thousands of runs cannot pay per run. Preflight therefore
    checks and identifies runs as ``Plain`` configs; a training run gets Hydra's own config.
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
    """A resolved, independent plain-dict copy of a config (OmegaConf or Plain): dicts and lists only."""
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


# Names that become part of a path (the run folder's name, a preset's file): one safe pattern.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def check_path_safe(cfg: DictConfig) -> None:
    """Every ``*.name`` in the config may reach the filesystem: letters, digits, ``_ - .``, not
    starting with ``.``; anything else (``../x``, ``a/b``, an empty name) is refused."""
    for key, value in _named_values(cfg if isinstance(cfg, dict) else as_dict(cfg)):
        if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
            raise HarnessError(
                f"{key}={value!r} cannot be used in a file name; use letters, digits, '_', '-' and '.' "
                f"(not first)"
            )


def _named_values(node: Any, prefix: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if key == "name" and not isinstance(value, (dict, list)):
                yield path, value
            else:
                yield from _named_values(value, f"{path}.")


def check_known_keys(cfg: DictConfig) -> None:
    """A key the schema does not know (``+optimizer.foo=1`` gets past Hydra's check)
    would be silently ignored by the code: refuse it."""
    from harness.schema import HarnessConfig

    if isinstance(cfg, dict):
        plain = cfg
    else:
        from omegaconf import OmegaConf

        plain = OmegaConf.to_container(cfg, resolve=False)
    for path in _unknown_keys(plain, HarnessConfig):
        raise HarnessError(
            f"unknown key {path!r}: nothing reads it, so it would be silently ignored; remove it "
            f"(`python -m harness --help` lists every key)"
        )


def _unknown_keys(node: Any, schema: type, prefix: str = ""):
    if not isinstance(node, dict):
        return
    nested_types = _nested(schema)
    for key, value in node.items():
        path = f"{prefix}{key}"
        if key not in nested_types:
            yield path
            continue
        nested = nested_types[key]
        if nested is not None and isinstance(value, dict):
            yield from _unknown_keys(value, nested, f"{path}.")
        elif nested is not None and isinstance(value, list):
            for i, item in enumerate(value):
                yield from _unknown_keys(item, nested, f"{path}.{i}.")


@functools.lru_cache(maxsize=None)
def _hints(schema: type) -> dict:
    return typing.get_type_hints(schema)


@functools.lru_cache(maxsize=None)
def _nested(schema: type) -> dict:
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
    from harness.schema import HarnessConfig

    return copy.deepcopy(_schema_defaults(schema or HarnessConfig))


@functools.lru_cache(maxsize=None)
def _schema_defaults(schema: type) -> dict:
    defaults: dict[str, Any] = {}
    hints = _hints(schema)
    for f in dataclasses.fields(schema):
        nested = _dataclass_in(hints[f.name])
        if nested is not None:
            defaults[f.name] = _schema_defaults(nested)
        elif f.default is not dataclasses.MISSING and f.default != "???":
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def canonical_config(cfg: DictConfig) -> DictConfig:
    """The effective config of one run, resolved, with one spelling per experiment.

    ``cfg`` must already have passed ``harness.config.validate``; sizes beyond the data are
    refused there, so here they are only normalised: the full training or test set is ``null``,
    and a schedule's length left unset is written out.
    An OmegaConf config gives an OmegaConf config (what a training run gets), a Plain one a Plain.
    """
    from harness.plan import schedule_params as derived_params

    plain = as_dict(cfg)
    data = plain["data"]
    if data.get("train_size") == max_train_images(data):
        data["train_size"] = None
    if data.get("test_size") == TEST_IMAGES:
        data["test_size"] = None
    # A horizon left unset (a schedule defined by its length: onecycle, wsd, ...) is derived from
    # epochs and the updates per epoch; writing it out makes `unset` and its value one experiment.
    # A sweep's shared horizon means nothing to a schedule without one (constant): drop it there.
    from harness.schedules import has_horizon

    scheduler = plain["scheduler"]
    if not has_horizon(scheduler["kind"]) and scheduler["kind"] != "sequence":
        scheduler["total_steps"] = None
    elif scheduler.get("total_steps") is None and plain["protocol"] == "clean":
        scheduler["total_steps"] = derived_params(Plain.of(plain)).get("total_steps")
    if isinstance(cfg, dict):
        return Plain.of(plain)
    from omegaconf import OmegaConf

    canonical = OmegaConf.create(plain)
    OmegaConf.set_struct(canonical, True)
    return canonical


def max_train_images(data: Any) -> int:
    """Training images left for ``train_size`` once a validation split (if any) is carved out."""
    return TRAIN_IMAGES - (data.get("val_size") or 0)


def identity(cfg: DictConfig) -> dict:
    """The canonical config's fields that decide the result, as hashed by ``run_id``."""
    plain = as_dict(cfg)
    for key in NOT_IDENTITY:
        plain.pop(key, None)
    for key in NOT_IDENTITY_DATA:
        plain["data"].pop(key, None)
    return _drop_added_defaults(plain, schema_defaults())


def _drop_added_defaults(node: dict, defaults: dict, prefix: str = "") -> dict:
    kept = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        default = defaults.get(key, dataclasses.MISSING) if isinstance(defaults, dict) else dataclasses.MISSING
        if isinstance(value, dict):
            kept[key] = _drop_added_defaults(value, default if isinstance(default, dict) else {}, f"{path}.")
        elif path == "model.layers" and isinstance(value, list):
            from harness.schema import LayerConfig

            layer_defaults = _schema_defaults(LayerConfig)
            kept[key] = [_drop_added_defaults(item, layer_defaults, "model.layers[].") for item in value]
        elif path in V1_KEYS or value != default:
            kept[key] = value
    return kept


def run_id(cfg: DictConfig) -> str:
    """Same experiment, same id: a short hash of the fields that change the result."""
    canonical = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def run_dir_name(framework: str, scheduler: str, seed: int, rid: str) -> str:
    return f"{framework}-{scheduler}-s{seed}-{rid}"


def run_dir(cfg: DictConfig, results_dir: Path) -> Path:
    """The one place a run's folder is computed; it always lies directly inside ``results_dir``."""
    name = run_dir_name(cfg.framework.name, cfg.scheduler.name, cfg.seed, run_id(cfg))
    folder = results_dir / name
    if folder.resolve().parent != results_dir.resolve():  # names are checked; this is the backstop
        raise HarnessError(f"run folder {name!r} would fall outside results_dir={str(results_dir)!r}")
    return folder


def folder_of(cfg: Any) -> Path:
    """The folder of the run a composed config describes (canonical config, absolute path)."""
    canonical = canonical_config(cfg)
    return run_dir(canonical, results_path(canonical.results_dir))


# Short names for the variant label; any other parameter keeps its own name.
_LABELS = {"base_lr": "lr", "final_lr": "final", "total_steps": "T", "warmup_steps": "warmup",
           "warmup_begin_lr": "warmup_from", "milestones": "at"}


def schedule_params(cfg: DictConfig) -> dict:
    """The schedule's parameters as its factory receives them, plus its unit and kind."""
    plain = as_dict(cfg.scheduler)
    plain.pop("name", None)
    return {k: v for k, v in plain.items() if v is not None}


def variant(cfg: DictConfig) -> str:
    """A short human label of the schedule with every parameter that is set:
    ``cosine(lr=0.3, final=0.01, T=20)``; ``, per step`` when ``unit=step``."""
    params = schedule_params(cfg)
    params.pop("kind", None)
    unit = params.pop("unit", "epoch")
    # The kind is left out: validation makes the name decide it.
    parts = [f"{_LABELS.get(k, k)}={_short(v)}" for k, v in params.items()]
    if unit != "epoch":
        parts.append(f"per {unit}")
    return f"{cfg.scheduler.name}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def optimizer_params(cfg: DictConfig) -> dict:
    """The hyperparameters the optimizer's rule reads (harness.optimizers.USES), and lr_mult."""
    from harness.optimizers import USES

    plain = as_dict(cfg.optimizer)
    reads = USES.get(plain.pop("name", None), tuple(plain))
    return {k: v for k, v in plain.items() if k in reads or (k == "lr_mult" and v)}


def model_hash(model_cfg: Any) -> str:
    """12 hex digits naming the network that ran (layers, input, classes, initialiser), so two
    different networks that share a name cannot be mistaken for each other."""
    plain = as_dict(model_cfg)
    plain.pop("name", None)
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def launch_dir() -> Path:
    """The folder the command was started in, even when Hydra has changed the working directory
    (``hydra.job.chdir=true``): relative paths the user typed mean this folder."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return Path(HydraConfig.get().runtime.cwd)
    except ImportError:
        pass
    return Path.cwd()


def results_path(results_dir: str) -> Path:
    """``results_dir`` as an absolute path: ``~`` expanded, relative to where the command started."""
    path = Path(results_dir).expanduser()
    return path if path.is_absolute() else launch_dir() / path


def shown(path: Path) -> str:
    """A path for messages: relative to where the command started when it lies below it."""
    try:
        return str(path.relative_to(launch_dir()))
    except ValueError:
        return str(path)
