"""The preflight: every run a command line starts, composed with Hydra and validated, before
any of them trains (``harness.cli`` and the commands in harness/commands/ call it).

A typo or an invalid value in any point of a sweep fails here in well under a second with one
line, a non-zero exit and nothing written, instead of a traceback after hours of a sweep.
No framework is imported here; Hydra only once a config is composed (plot-schedule reuses
configs Hydra composed before, harness/compose_cache.py, without it).
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.paths import CONF_DIR, EXPERIMENTS_DIR
from harness.schema import CONFIG_GROUPS, Plain
from harness.validate import RunConfig, validate

MULTIRUN_FLAGS = {"-m", "--multirun"}


def group_options(group: str) -> list[str]:
    folder = EXPERIMENTS_DIR if group == "experiments" else CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


class _GroupOptions:
    """What Hydra's parser asks a config loader for when a sweep says ``glob(...)``
    (``scheduler=glob(*,exclude=[plateau])``): a group's options, read from the folders here."""

    def get_group_options(self, group: str, results_filter=None, config_name=None, overrides=None) -> list[str]:
        return group_options(group)


def one_line(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


def expand_runs(args: list[str]) -> list[list[str]]:
    """The override list of every run the command would start (one for a single run)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from harness.suggest import closest

    multirun = any(a in MULTIRUN_FLAGS for a in args)
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    try:
        parsed = OverridesParser.create(config_loader=_GroupOptions()).parse_overrides(overrides)
    except HydraException as exc:
        raise HarnessError(f"cannot parse the command line: {one_line(exc)}") from None
    seen: dict[str, str] = {}
    for override in parsed:
        if override.key_or_group in seen:
            raise HarnessError(
                f"{override.key_or_group} is given twice ({seen[override.key_or_group]} and {override.input_line}); "
                f"Hydra would keep only the last and drop the other silently: give it once"
            )
        seen[override.key_or_group] = override.input_line
    for override in parsed:
        group = override.key_or_group
        if group not in CONFIG_GROUPS:
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.get_value_element_as_str()]
        if isinstance(override.value(), list):  # several options of one group: logger=[mlflow,tensorboard]
            values = [str(option) for option in override.value()]
        known = group_options(group)
        if not values:  # a glob that matches nothing would sweep nothing, silently
            raise HarnessError(f"{override.input_line!r} matches no option of {group}; choose from: {', '.join(known)}")
        for value in values:
            if value not in known and value != "null":
                close = closest(value, known)
                hint = f" (did you mean {close!r}?)" if close else ""
                raise HarnessError(f"{group}={value!r} is unknown{hint}; choose one of: {', '.join(known)}")
        if override.is_sweep_override() and not multirun:
            raise HarnessError(f"{override.input_line!r} lists several values; add -m to run a sweep over them")
    if not multirun:
        return [overrides]
    try:
        return BasicSweeper.split_arguments(parsed, None)[0]
    except HydraException as exc:
        raise HarnessError(f"cannot expand the sweep: {one_line(exc)}") from None


def compose_run(overrides: list[str]):
    """Compose one run's config with Hydra's compose API (used for checks and by tests)."""
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def preflight(args: list[str], cached: bool = False) -> list[RunConfig]:
    """Compose and validate every run, a preset's own sweep included; return each as the
    ``RunConfig`` that ``runner.run`` trains (``harness.validate.validate``).

    ``cached=True`` (plot-schedule) first looks for the configs Hydra composed before for the same
    command line and the same conf/, schema and Hydra (harness/compose_cache.py), and keeps them
    there after composing; either way every config is validated here.
    """
    if cached:
        from harness import compose_cache

        stored = compose_cache.load(args)
        if stored is not None:
            return [validate(Plain.of(plain)) for plain in stored]
    configs, plains = _compose_and_validate(args)
    if cached and plains is not None:
        compose_cache.store(args, plains)
    return configs


def _compose_and_validate(args: list[str]) -> tuple[list[RunConfig], list | None]:
    """The preflight with Hydra: every run, validated, and the plain dicts they were made
    from (None when an interpolation took part, which may read the environment or the clock: such
    configs are not cached).

    Hydra composes a config from its group choices (which YAML files) and then applies the plain
    value overrides (``key=value``, ``+key=``, ``~key``) to the result. A sweep has few distinct
    group choices and many value points, so each distinct choice of groups is composed once, and
    each run applies its value overrides to a copy with Hydra's own override code: the cost
    grows with the number of group combinations, not of runs, and the configs are Hydra's
    (tests/test_config.py compares them for a mixed sweep).
    """
    import copy
    import json

    from hydra import compose, initialize_config_dir
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from harness.config import register_configs

    def composed(overrides: list[str], hydra_node: bool = False):
        try:
            return compose(config_name="config", overrides=overrides, return_hydra_config=hydra_node)
        except (HydraException, OmegaConfBaseException) as exc:
            raise HarnessError(_explain_compose_error(exc, overrides)) from None

    runs = expand_runs(args)
    parser = OverridesParser.create()
    parsed: dict[str, object] = {}  # override string -> Hydra's parsed Override, each parsed once
    bases: dict[tuple[str, ...], object] = {}  # group choices -> the config Hydra composes from them
    probes: dict[tuple, object] = {}  # (group choices, override) -> (key, typed value) or None
    scratch: dict[tuple[str, ...], object] = {}  # group choices -> a config to try leaf overrides on
    reusable = True  # no interpolation anywhere: the plain dicts are a function of the command line
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        if any(a in MULTIRUN_FLAGS for a in args):
            # A preset (experiments=...) may carry its own sweep in hydra.sweeper.params; Hydra
            # lets the command line override it key by key. Expand both, as Hydra will.
            preset_sweep = composed(runs[0], hydra_node=True).hydra.sweeper.get("params") or {}
            if preset_sweep and "${" in json.dumps(OmegaConf.to_container(preset_sweep, resolve=False)):
                reusable = False
            typed = {a.split("=")[0].lstrip("+~") for a in args if "=" in a}
            extra = [f"{key}={value}" for key, value in preset_sweep.items() if key not in typed]
            if extra:
                runs = expand_runs([*extra, *args])

        def applied(groups: tuple, values: list):
            """Hydra's config for the group choices with the value overrides applied."""
            cfg = copy.deepcopy(bases[groups][0])
            try:
                ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
            except (HydraException, OmegaConfBaseException) as exc:
                raise HarnessError(_explain_compose_error(exc, [v.input_line for v in values])) from None
            return cfg

        def probe(groups: tuple, override):
            """What one plain ``key=value`` does to the config: (key, the typed value Hydra stores),
            or None when it cannot be replayed on plain dicts (an interpolation)."""
            if (groups, override.input_line) not in probes:
                # A leaf's new value depends on nothing else, so leaves are tried on one scratch
                # copy per group choice; a dict or list value is merged, so it gets a fresh copy.
                if isinstance(override.value(), (dict, list)):
                    target = applied(groups, [override])
                else:
                    if groups not in scratch:
                        scratch[groups] = copy.deepcopy(bases[groups][0])
                    target = scratch[groups]
                    try:
                        ConfigLoaderImpl._apply_overrides_to_config([override], target)
                    except (HydraException, OmegaConfBaseException) as exc:
                        raise HarnessError(_explain_compose_error(exc, [override.input_line])) from None
                value = OmegaConf.select(target, override.key_or_group)
                value = OmegaConf.to_container(value, resolve=False) if OmegaConf.is_config(value) else value
                probes[groups, override.input_line] = None if "${" in json.dumps(value) else (override.key_or_group, value)
            return probes[groups, override.input_line]

        configs, plains = [], []
        for overrides in runs:
            for text in overrides:
                if text not in parsed:
                    parsed[text] = parser.parse_overrides([text])[0]
            # Hydra's own settings (hydra/launcher=..., hydra.job...) do not change a run's config.
            job = [text for text in overrides if not parsed[text].is_hydra_override()]
            groups = tuple(text for text in job if _is_group(parsed[text]))
            values = [parsed[text] for text in job if not _is_group(parsed[text])]
            if groups not in bases:
                base = composed(list(groups))
                plain = OmegaConf.to_container(base, resolve=False)
                bases[groups] = (base, None if "${" in json.dumps(plain) else plain)
            changes = _replayable(values) and bases[groups][1] is not None and [probe(groups, v) for v in values]
            if changes and all(changes):
                plain = _copy(bases[groups][1])
                for key, value in changes:
                    _set(plain, key, value)
            else:  # +key, ~key, interpolations: Hydra's own code on a copy of the config
                plain = OmegaConf.to_container(applied(groups, values), resolve=True)
                if bases[groups][1] is None or any("${" in v.input_line for v in values):
                    reusable = False  # resolved: it may have read the environment, the clock, a resolver
            configs.append(validate(Plain.of(plain)))  # a copy: plain stays as Hydra composed it
            plains.append(plain)
    return configs, plains if reusable else None


def _replayable(values: list) -> bool:
    """Plain ``key=value`` overrides of distinct keys, none inside another: setting each typed
    value on plain dicts gives what Hydra gives."""
    from hydra.core.override_parser.types import OverrideType

    keys = [v.key_or_group for v in values]
    if any(v.type != OverrideType.CHANGE or "${" in v.input_line for v in values):
        return False  # +, ~, ++ and interpolations (resolved against the final config) go through Hydra
    return not any(a == b or b.startswith(f"{a}.") for i, a in enumerate(keys) for j, b in enumerate(keys) if i != j)


def _copy(node):
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _set(plain: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    node = plain
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = _copy(value)
    else:
        node[last] = _copy(value)


def _is_group(override) -> bool:
    """A config group choice (scheduler=cosine, experiments=quick), not a value (epochs=3)."""
    return override.key_or_group in CONFIG_GROUPS


def _explain_compose_error(exc: BaseException, overrides: list[str]) -> str:
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from harness.suggest import closest_key

    cause = exc.__cause__
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and getattr(cause, "full_key", None):
        key = cause.full_key
        close = closest_key(key)
        hint = f" (did you mean {close!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; check its spelling (`python -m harness --help` lists every key)"
    # Name the one override that failed, not the whole command line.
    message = str(exc).strip()
    if "Could not append to config" in message:
        added = next((o for o in overrides if o.startswith("+") and o.lstrip("+").split("=")[0] in message), None)
        if added:
            return f"{added.lstrip('+').split('=')[0]} is already a key; set it without the '+': {added.lstrip('+')}"
    for override in overrides:
        if override in message or (cause is not None and override.split("=")[0] in str(cause)):
            return f"invalid setting {override}: {one_line(cause or exc)}"
    return f"invalid setting in {' '.join(overrides) or 'the defaults'}: {one_line(exc)}"
