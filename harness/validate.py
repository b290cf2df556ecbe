"""Every check of a run's config, and the one canonical run description it becomes.

``validate(cfg)`` takes a composed config (Hydra's ``DictConfig``, a YAML file OmegaConf read, or
the preflight's plain dicts: converted once, here, by ``schema.as_plain``), raises
``HarnessError`` naming the value and the fix, and returns the run as a ``RunConfig``: frozen,
resolved, with one spelling per experiment (``canonical_config``). Everything below the command
line (``runner.run``, ``identity``) reads that; nothing here imports Hydra.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from typing import Any

from harness.errors import HarnessError
from harness.schema import (
    DATASETS,
    DEVICES,
    FRAMEWORKS,
    PROTOCOLS,
    SEED_LIMIT,
    HarnessConfig,
    LayerConfig,
    ModelConfig,
    Plain,
    as_dict,
    as_plain,
    max_train_images,
    nested_fields,
    schema_defaults,
    scheduler_kinds,
    split_images,
)


class RunConfig(Plain):
    """One run as ``validate`` leaves it: canonical, resolved, and read-only (a change would
    make it a different run than the one its ``run_id`` names; ``schema.as_dict`` gives a copy to
    change)."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a RunConfig is read-only; change a copy (harness.schema.as_dict) and validate it again")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _read_only
    clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self):  # pickle and deepcopy: rebuilt from a plain dict, not item by item
        return (RunConfig.of, (as_dict(self),))


def validate(cfg: Any) -> RunConfig:
    """Check values the schema cannot; raise HarnessError naming the value and the fix; return
    the canonical run. A ``RunConfig`` is returned as it is: it was made here (``canonical_config``
    is only ever given a config that passed ``check``) and cannot be changed after, so the
    preflight's runs reach ``cli._task`` already validated."""
    if isinstance(cfg, RunConfig):
        return cfg
    check(cfg)
    return canonical_config(cfg)


def check(cfg: Any) -> None:
    """``validate`` without building the run description."""
    from harness import d2l_tabs, optimizers, plateau
    from harness.model import spec_from_config
    from harness.plan_checks import check_schedule
    from harness.schedules import UNITS
    from harness.sinks import validate as validate_sinks

    check_known_keys(cfg)
    cfg = as_plain(cfg)  # read many times below: plain dicts are cheap to read
    check_path_safe(cfg)
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
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise HarnessError(f"seed={cfg.seed} must be an integer in [0, 2^32)")
    if not str(cfg.results_dir).strip():
        raise HarnessError("results_dir is empty; give a folder, e.g. results_dir=results")
    if cfg.data.name not in DATASETS:
        raise HarnessError(
            f"data.name={cfg.data.name!r} is not a dataset this harness can load; choose one of {', '.join(DATASETS)} "
            f"(data=NAME)"
        )
    check_model_fits_data(cfg)
    check_d2l_model(cfg)
    cfg = Plain.of({**cfg, "model": trained_model(cfg)})  # what follows checks the network that trains
    kinds = scheduler_kinds()
    if kinds.get(cfg.scheduler.name) != cfg.scheduler.kind:
        options = [name for name, kind in kinds.items() if kind == cfg.scheduler.kind]
        raise HarnessError(
            f"scheduler.name={cfg.scheduler.name!r} does not name the {cfg.scheduler.kind} schedule "
            f"(its option is {', '.join(options) or 'none'}); the name is set by choosing scheduler=OPTION, "
            f"and the results' variant column labels changed parameters"
        )
    if cfg.threads < 0:
        raise HarnessError(f"threads={cfg.threads} must be 0 (the framework's default) or a positive count")
    optimizers.validate(cfg)
    plateau.check(cfg)  # data.val_size and scheduler=plateau (issue 13), before the sizes it decides
    for key in ("train_size", "test_size"):
        size = cfg.data[key]
        if size is not None and size <= 0:
            raise HarnessError(f"data.{key}={size} must be a positive number of images (or null for all)")
    most = {"train_size": max_train_images(cfg.data), "test_size": split_images(cfg.data, "test")}
    for key, limit in most.items():
        if cfg.data[key] is not None and cfg.data[key] > limit:
            raise HarnessError(f"data.{key}={cfg.data[key]} is more than the {limit} images there are; "
                               f"use at most {limit} (or null for all)")
    train_size = cfg.data.train_size or most["train_size"]
    if cfg.batch_size > train_size:
        raise HarnessError(f"batch_size={cfg.batch_size} is larger than the {train_size} training images; lower it")
    if cfg.scheduler.unit not in UNITS:
        raise HarnessError(f"scheduler.unit={cfg.scheduler.unit!r} must be one of {', '.join(UNITS)}")
    # Before the schedule is built: protocol=d2l builds the tab's rates, which exist only for these.
    if cfg.protocol == "d2l" and cfg.scheduler.kind not in d2l_tabs.TRAINED_KINDS:
        raise HarnessError(
            f"scheduler={cfg.scheduler.name} was never trained in the d2l chapter, so protocol=d2l "
            f"cannot reproduce it; use protocol=clean"
        )
    check_schedule(cfg)  # builds the schedule with its derived lengths; momentum needs an optimizer with momentum
    spec_from_config(cfg.model)
    validate_sinks(cfg)  # logger=...: the extra is installed


def canonical_config(cfg: Any) -> RunConfig:
    """The effective config of one run, resolved, with one spelling per experiment.

    ``cfg`` must already have passed ``check``; sizes beyond the data are refused there, so here
    they are only normalised: the full training or test set is ``null``, and a schedule's length
    left unset is written out. Canonical twice is canonical once.
    """
    from harness.plan import schedule_params as derived_params
    from harness.schedules import has_horizon

    plain = as_dict(cfg)
    plain["model"] = trained_model(plain)
    data = plain["data"]
    if data.get("train_size") == max_train_images(data):
        data["train_size"] = None
    if data.get("test_size") == split_images(data, "test"):
        data["test_size"] = None
    # A horizon left unset (a schedule defined by its length: onecycle, wsd, ...) is derived from
    # epochs and the updates per epoch; writing it out makes `unset` and its value one experiment.
    # A sweep's shared horizon means nothing to a schedule without one (constant): drop it there.
    scheduler = plain["scheduler"]
    if not has_horizon(scheduler["kind"]) and scheduler["kind"] != "sequence":
        scheduler["total_steps"] = None
    elif scheduler.get("total_steps") is None and plain["protocol"] == "clean":
        scheduler["total_steps"] = derived_params(Plain.of(plain)).get("total_steps")
    return RunConfig.of(plain)


def check_model_fits_data(cfg: Any) -> None:
    """The network's input and output must be the dataset's: a 28x28 model on 8x8 digits would fail
    deep inside a framework, so it is refused here, naming both."""
    from harness.datasets import dataset_info

    info = dataset_info(cfg.data.name)
    shape = tuple(int(v) for v in cfg.model.input_shape)
    if shape != info.input_shape or int(cfg.model.num_classes) != info.num_classes:
        raise HarnessError(
            f"model={cfg.model.name} takes input_shape {list(shape)} and {cfg.model.num_classes} classes, but "
            f"data={cfg.data.name} has {list(info.input_shape)} and {info.num_classes}; choose a model made for "
            f"{cfg.data.name} (`python -m harness --help` lists the problems)"
        )


# The one model protocol=d2l is asked for (its default, conf/model/lenet.yaml): each framework's
# tab then trains its own network and initialiser (d2l_tabs.MODEL_BY_TAB, INIT_BY_TAB).
D2L_MODEL = "lenet"


def trained_model(cfg: dict) -> dict:
    """The model section of the network a run trains: its own, or under protocol=d2l the
    framework's tab's (its network and initialiser). ``canonical_config`` writes it into the run,
    so ``_config.yaml``, the ``model`` and ``model_hash`` columns and the adapter all read one
    network; ``identity.run_id`` hashes what protocol=d2l was asked for (see there)."""
    if cfg["protocol"] == "d2l":
        return d2l_tab_model(cfg["framework"]["name"])
    return as_dict(cfg["model"])


def d2l_tab_model(framework: str) -> dict:
    """The network the framework's d2l tab trains, with the tab's initialiser, as a model section."""
    from harness.d2l_tabs import INIT_BY_TAB, MODEL_BY_TAB

    return {**model_section(MODEL_BY_TAB[framework]), "init": INIT_BY_TAB[framework]}


def model_section(name: str) -> dict:
    """conf/model/<name>.yaml as the schema composes it (``model=<name>``): every key, in the
    schema's order, unset ones at their defaults. A fresh copy."""
    return copy.deepcopy(_model_section(name))


@functools.lru_cache(maxsize=None)
def _model_section(name: str) -> dict:
    # PyYAML, as schema.scheduler_kinds reads: the command line's start-up does not load OmegaConf
    # for this. The model files have no interpolations.
    import yaml

    from harness.paths import CONF_DIR

    raw = yaml.safe_load((CONF_DIR / "model" / f"{name}.yaml").read_text())
    return {**_filled(ModelConfig, raw), "layers": [_filled(LayerConfig, layer) for layer in raw["layers"]]}


def _filled(schema: type, values: dict) -> dict:
    defaults = schema_defaults(schema)
    return {f.name: values.get(f.name, defaults.get(f.name)) for f in dataclasses.fields(schema)}


def check_d2l_model(cfg: Any) -> None:
    """protocol=d2l trains each tab's own LeNet on Fashion-MNIST (``trained_model``): any other
    model, dataset or initialiser would be replaced by the tab's, so the combination is refused.
    Admitted: the model it is asked for (model=lenet as composed) and the tab's own network
    (the one a run's ``_config.yaml`` records, read back by ``tuning`` or a resume)."""
    if cfg.protocol != "d2l":
        return
    if cfg.data.name != "fashion_mnist":
        raise HarnessError(f"protocol=d2l reproduces the d2l chapter on Fashion-MNIST, not data={cfg.data.name}; "
                           f"use protocol=clean")
    from harness.d2l_tabs import TABS

    if cfg.framework.name not in TABS:  # the registry allows a framework the chapter has no tab for
        raise HarnessError(f"framework={cfg.framework.name} has no tab in the d2l chapter to reproduce; "
                           f"use protocol=clean, or protocol=d2l with framework={' or '.join(TABS)}")
    model, tab = as_dict(cfg.model), d2l_tab_model(cfg.framework.name)
    asked = model_section(D2L_MODEL)
    if not _same_network(model, asked) and not _same_network(model, tab):
        raise HarnessError(
            f"model={cfg.model.name} with protocol=d2l would train the d2l tab's own LeNet under this model's name; "
            f"use protocol=clean for model={cfg.model.name}, or model={D2L_MODEL} for protocol=d2l"
        )
    if model["init"] not in (asked["init"], tab["init"]):
        raise HarnessError(
            f"model.init={model['init']} with protocol=d2l: the {cfg.framework.name} tab initialises with "
            f"{tab['init']}; leave model.init unset for protocol=d2l, or use protocol=clean"
        )


def _same_network(model: dict, other: dict) -> bool:
    """Same name, input, classes and layers (keys left at their defaults aside); the initialiser
    is compared on its own."""
    return all(model.get(key) == other.get(key) for key in ("name", "input_shape", "num_classes")) and \
        [_set_keys(layer) for layer in model.get("layers") or []] == [_set_keys(layer) for layer in other["layers"]]


def _set_keys(layer: dict) -> dict:
    return {key: value for key, value in layer.items() if value is not None and not (key == "padding" and value == 0)}


# Names that become part of a path (the run folder's name, a preset's file): one safe pattern.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def check_path_safe(cfg: Any) -> None:
    """Every ``*.name`` in the config may reach the filesystem: letters, digits, ``_ - .``, not
    starting with ``.``; anything else (``../x``, ``a/b``, an empty name) is refused."""
    for key, value in _named_values(as_plain(cfg)):
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


def check_known_keys(cfg: Any) -> None:
    """A key the schema does not know (``+optimizer.foo=1`` gets past Hydra's check)
    would be silently ignored by the code: refuse it."""
    if isinstance(cfg, dict):
        plain = cfg
    else:  # unresolved: an interpolation to a key that does not exist is still named here
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
    nested_types = nested_fields(schema)
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
