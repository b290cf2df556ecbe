"""A run's identity, its folder and its labels, from its canonical config.

A composed config becomes a run in one place, ``harness.validate.validate`` (its
``canonical_config``): values that mean the same experiment are written one way
(``data.train_size=60000`` is "all", the same as unset), values out of range are refused, and the
result is a frozen, resolved ``RunConfig``. From it, and only from it, come ``run_id``, the run
folder (``run_dir``), the identity columns of every parquet row and the ``_config.yaml`` beside
them. This module only hashes and labels: it checks nothing and changes nothing.

``run_id`` is a hash of the settings that change what is computed. It must never move under a
finished run, or sweeps would train it again, so it is built in two parts:

- the keys that existed when results were first written (``V1_KEYS``: the keys of schema
  version 1, the committed study's) are hashed exactly as they always were, nulls included;
- every key added since enters the hash only when it differs from its schema default. Adding a
  key with a default therefore renames nothing, and a run that sets it is a new run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.schema import LayerConfig, as_dict, cached_defaults, schema_defaults
from harness.validate import D2L_MODEL, RunConfig, model_section

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


def identity(cfg: RunConfig) -> dict:
    """The canonical config's fields that decide the result, as hashed by ``run_id``."""
    plain = as_dict(cfg)
    if plain.get("protocol") == "d2l":
        # The canonical config holds the tab's network (validate.trained_model), which the
        # framework, hashed too, decides. protocol=d2l is only ever asked for with model=lenet
        # (validate.check_d2l_model), and every d2l run was named by that section as composed
        # before the canonical config held the tab's: hashing it keeps their run_ids.
        plain["model"] = model_section(D2L_MODEL)
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
            layer_defaults = cached_defaults(LayerConfig)
            kept[key] = [_drop_added_defaults(item, layer_defaults, "model.layers[].") for item in value]
        elif path in V1_KEYS or value != default:
            kept[key] = value
    return kept


def run_id(cfg: RunConfig) -> str:
    """Same experiment, same id: a short hash of the fields that change the result."""
    canonical = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def run_dir_name(framework: str, scheduler: str, seed: int, rid: str) -> str:
    return f"{framework}-{scheduler}-s{seed}-{rid}"


def run_dir(cfg: RunConfig, results_dir: Path) -> Path:
    """The one place a run's folder is computed; it always lies directly inside ``results_dir``."""
    name = run_dir_name(cfg.framework.name, cfg.scheduler.name, cfg.seed, run_id(cfg))
    folder = results_dir / name
    if folder.resolve().parent != results_dir.resolve():  # names are checked; this is the backstop
        raise HarnessError(f"run folder {name!r} would fall outside results_dir={str(results_dir)!r}")
    return folder


def folder_of(cfg: RunConfig) -> Path:
    """The run's folder as an absolute path (``results_dir`` resolved where the command started)."""
    return run_dir(cfg, results_path(cfg.results_dir))


# Short names for the variant label; any other parameter keeps its own name.
_LABELS = {"base_lr": "lr", "final_lr": "final", "total_steps": "T", "warmup_steps": "warmup",
           "warmup_begin_lr": "warmup_from", "milestones": "at"}


def schedule_column(cfg: RunConfig) -> dict:
    """The ``schedule_params`` column: every scheduler key that is set but the name, its unit
    and kind included (``plan.schedule_params`` is what the schedule's factory receives)."""
    plain = as_dict(cfg.scheduler)
    plain.pop("name", None)
    return {k: v for k, v in plain.items() if v is not None}


def variant(cfg: RunConfig) -> str:
    """A short human label of the schedule with every parameter that is set:
    ``cosine(lr=0.3, final=0.01, T=20)``; ``, per step`` when ``unit=step``."""
    return variant_label(cfg.scheduler.name, schedule_column(cfg))


def variant_label(name: str, scheduler: dict) -> str:
    """The ``variant`` label from a schedule's name and its settings (the ``scheduler`` section of
    a run's ``_config.yaml``, or ``schedule_column``): the one labeller, for the runs the runner
    writes and for the files written before the parquet had a ``variant`` column."""
    params = {k: v for k, v in scheduler.items() if v is not None and k not in ("name", "kind")}
    unit = params.pop("unit", "epoch")
    # The kind is left out: validation makes the name decide it.
    parts = [f"{_LABELS.get(k, k)}={_short(v)}" for k, v in params.items()]
    if unit != "epoch":
        parts.append(f"per {unit}")
    return f"{name}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def optimizer_params(cfg: RunConfig) -> dict:
    """The hyperparameters the optimizer's rule reads (harness.optimizers.USES), and lr_mult."""
    from harness.optimizers import USES  # numpy and the d2l tabs: not for the CLI's start-up

    plain = as_dict(cfg.optimizer)
    reads = USES.get(plain.pop("name", None), tuple(plain))
    return {k: v for k, v in plain.items() if k in reads or (k == "lr_mult" and v)}


def model_hash(model_cfg: Any) -> str:
    """12 hex digits naming the network that ran (layers, input, classes, initialiser), so two
    different networks that share a name cannot be mistaken for each other."""
    plain = as_dict(model_cfg)
    plain.pop("name", None)
    # Layer keys added after schema version 1 count only when set, as in run_id: the committed
    # runs' hashes stay what they were, whether or not the schema filled the new keys in.
    layer_defaults = cached_defaults(LayerConfig)
    plain["layers"] = [{k: v for k, v in layer.items() if f"model.layers[].{k}" in V1_KEYS or v != layer_defaults.get(k)}
                       for layer in plain.get("layers") or []]
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
