"""Command line: ``python -m harness [-m] KEY=VALUE ...`` (Hydra), ``python -m harness report``
and ``python -m harness find-lr`` (harness/commands/find_lr.py).

Before Hydra starts any run, every run of the command (each point of a sweep) is composed
and validated, so a typo or an invalid value fails in well under a second with one line,
a non-zero exit and nothing written, instead of a traceback after hours of a sweep.
No framework is imported here: ``--help`` stays fast. Nor is Hydra until a command needs it:
plot-schedule reuses configs Hydra composed before (harness/compose_cache.py) without it.
"""

from __future__ import annotations

import sys

from harness.errors import HarnessError
from harness.paths import CONF_DIR, EXPERIMENTS_DIR

CONFIG_GROUPS = ("framework", "model", "scheduler", "optimizer", "data", "experiments", "logger")
# Hydra flags that print information instead of running: handed to Hydra untouched.
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--version"}
MULTIRUN_FLAGS = {"-m", "--multirun"}


def fail(message: str) -> None:
    print(f"harness: error: {message}", file=sys.stderr)
    sys.exit(2)


def group_options(group: str) -> list[str]:
    folder = EXPERIMENTS_DIR if group == "experiments" else CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _one_line(exc: BaseException) -> str:
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
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise HarnessError(f"cannot parse the command line: {_one_line(exc)}") from None
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
        raise HarnessError(f"cannot expand the sweep: {_one_line(exc)}") from None


def compose_run(overrides: list[str]):
    """Compose one run's config with Hydra's compose API (used for checks and by tests)."""
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def preflight(args: list[str], cached: bool = False) -> list:
    """Compose and validate every run, a preset's own sweep included; return their configs.

    ``cached=True`` (plot-schedule) first looks for the configs Hydra composed before for the same
    command line and the same conf/, schema and Hydra (harness/compose_cache.py), and keeps them
    there after composing; either way every config is validated here.
    """
    if cached:
        from harness import compose_cache
        from harness.identity import Plain
        from harness.schema import validate

        stored = compose_cache.load(args)
        if stored is not None:
            configs = [Plain.of(plain) for plain in stored]
            for cfg in configs:
                validate(cfg)
            return configs
    configs, plains = _compose_and_validate(args)
    if cached and plains is not None:
        compose_cache.store(args, plains)
    return configs


def _compose_and_validate(args: list[str]) -> tuple[list, list | None]:
    """The preflight with Hydra: every run's validated config, and the plain dicts they were made
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
    from harness.identity import Plain
    from harness.schema import validate

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
            cfg = Plain.of(plain)  # a copy: validating cfg leaves plain as Hydra composed it
            validate(cfg)
            configs.append(cfg)
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
            return f"invalid setting {override}: {_one_line(cause or exc)}"
    return f"invalid setting in {' '.join(overrides) or 'the defaults'}: {_one_line(exc)}"


def _task(cfg) -> None:
    from harness.identity import shown
    from harness.progress import reported
    from harness.runner import Interrupted, run

    try:
        with reported(cfg):  # in a sweep: "harness: [7/18] torch cosine seed=2 starting (12 left, ...)"
            summary = run(cfg)
    except HarnessError as exc:
        fail(str(exc))
    except Interrupted as stop:
        print(f"harness: {stop}; results so far in {shown(stop.run_dir)}/; run the same command to resume",
              file=sys.stderr)
        sys.exit(130)
    name = f"{cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed}"
    if summary.status == "failed":
        # One line, and the sweep goes on; main() exits non-zero once every run has had its turn.
        print(f"harness: failed: {name}: {summary.error}; traceback in {shown(summary.run_dir)}/_failed.txt; "
              f"run the same command to retry it", file=sys.stderr)
        return
    if summary.set_aside is not None:
        why = "unreadable" if summary.set_aside.parent.name == "_corrupt" else "earlier"
        print(f"harness: note: {why} results of {name} moved to {shown(summary.set_aside)}/")
    if summary.status == "busy":
        print(f"harness: skipped: {name} is being trained by another process right now; "
              f"its results will be in {shown(summary.run_dir)}/")
        return
    if summary.status == "skipped":
        print(f"harness: skipped: {name} is already finished ({_epochs(summary.epochs_done)}); "
              f"results in {shown(summary.run_dir)}/ (rerun=true trains it again)")
        return
    resumed = f" ({summary.resumed_from} of them done before a resume)" if summary.resumed_from else ""
    print(
        f"harness: {summary.status}: {name}, {_epochs(summary.epochs_done)}{resumed}, "
        f"final test_acc {summary.final_test_acc:.4f}; results in {shown(summary.run_dir)}/"
    )


def _epochs(n: int) -> str:
    return f"{n} {_plural(n, 'epoch')}"


# Commands that are not training runs: name -> the module whose main(args) runs it.
COMMANDS = {
    "report": "harness.report",
    "plan": "harness.commands.dry_run",
    "find-lr": "harness.commands.find_lr",
    "plot-schedule": "harness.commands.plot_schedule",
    "status": "harness.commands.status",
}

# The commands that take a run's overrides: `python -m harness scheduler=cosine plan` means `plan scheduler=cosine`.
OVERRIDE_COMMANDS = ("plan", "find-lr", "plot-schedule")


def _quote_home(arg: str) -> str:
    """``results_dir=~/x``: Hydra's lexer reads a leading ``~`` as a deletion and fails; quote
    the value so it stays a path (``~`` is expanded where paths are used)."""
    key, sep, value = arg.partition("=")
    if sep and value.startswith("~") and not key.startswith("~"):
        return f"{key}='{value}'"
    return arg


def main(argv: list[str] | None = None) -> None:
    import importlib

    args = [_quote_home(a) for a in (sys.argv[1:] if argv is None else argv)]
    # `scheduler=cosine plan`: a command after the overrides (none of which is a bare word)
    later = next((a for a in args[1:] if a in COMMANDS), None) if args and args[0] not in COMMANDS else None
    if later in OVERRIDE_COMMANDS:
        args.remove(later)
        args.insert(0, later)
    elif later is not None:
        fail(f"put {later} first: python -m harness {later} ... ({later} takes no KEY=VALUE settings before it)")
    if args and args[0] in COMMANDS:
        sys.exit(importlib.import_module(COMMANDS[args[0]]).main(args[1:]))
    if "--dry-run" in args:
        sys.exit(importlib.import_module(COMMANDS["plan"]).main([a for a in args if a != "--dry-run"]))
    if args and "=" not in args[0] and not args[0].startswith("-"):
        from harness.suggest import closest

        close = closest(args[0], list(COMMANDS))
        hint = f" (did you mean {close!r}?)" if close else ""
        fail(f"unknown command {args[0]!r}{hint}; commands: {', '.join(COMMANDS)}; or KEY=VALUE settings for a run")
    if any(a in ("--help", "-h") for a in args):
        print(_help([a for a in args if a not in ("--help", "-h", *MULTIRUN_FLAGS)]), end="")
        return
    if "--version" in args:
        from importlib.metadata import version

        print(f"harness (lr-harness) {version('lr-harness')}, hydra-core {version('hydra-core')}")
        return
    configs = []
    if not any(a in INFO_FLAGS or a.split("=")[0] in INFO_FLAGS for a in args):
        try:
            configs = preflight(args)
        except HarnessError as exc:
            fail(str(exc))
    finished_before = [None if cfg.rerun else _final_status(cfg) for cfg in configs]
    multirun = any(a in MULTIRUN_FLAGS for a in args)
    if configs and all(finished_before):
        # Nothing to train: each run's job, here, without starting Hydra and a launcher (for a
        # finished study of dozens of runs they took longer than the check). A finished run's job
        # only removes a stale checkpoint and says where the results are.
        for cfg in configs:
            _task(cfg)
        if multirun:
            print(f"harness: sweep done: {sweep_counts(configs, finished_before)}")
        return

    import hydra

    from harness.config import register_configs

    register_configs()
    sys.argv = [sys.argv[0], *args]
    sweeps_before = _sweep_folders() if multirun else set()
    from harness.progress import sweep_announced

    # A sweep's jobs (in any launcher's processes) find the sweep's runs in their environment.
    with sweep_announced(configs if multirun else [], finished_before):
        hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)()
    from harness.identity import folder_of

    if multirun:
        _remove_empty_sweep_folders(sweeps_before)
    if multirun and configs:
        print(f"harness: sweep done: {sweep_counts(configs, finished_before)}")
    failed = sum(_failed_now(cfg) for cfg in {str(folder_of(cfg)): cfg for cfg in configs}.values())
    if failed:
        sys.exit(1)  # every run had its turn; the failed ones are retried by the same command


def _failed_now(cfg) -> bool:
    from harness.identity import folder_of
    from harness.results import failure_of

    return failure_of(folder_of(cfg)) is not None


def _help(overrides: list[str]) -> str:
    """Hydra's --help page (header, config groups, the composed config, footer), written here:
    Hydra builds a config repository per group to list their options, which with the launcher
    plugins installed took seconds; the options are the YAML files of each group folder."""
    from omegaconf import OmegaConf

    help_text = OmegaConf.load(CONF_DIR / "config.yaml").hydra.help
    groups = "\n".join(f"{group}: {', '.join(group_options(group))}" for group in sorted(CONFIG_GROUPS))
    try:
        expand_runs(overrides)  # unknown options get the run's own one-line error
        config = OmegaConf.to_yaml(compose_run(overrides))
    except HarnessError as exc:
        fail(str(exc))
    except Exception as exc:  # what Hydra refuses to compose
        fail(_one_line(exc))
    return (f"{help_text.header}\n== Configuration groups ==\nCompose your configuration from those groups "
            f"(group=option)\n\n{groups}\n\n\n== Config ==\nOverride anything in the config (foo.bar=value)\n\n"
            f"{config}\n{help_text.footer.rstrip()}\n")


def _sweep_root():
    import os
    from pathlib import Path

    return Path(os.environ.get("TMPDIR", "/tmp")) / "harness-multirun"  # conf/config.yaml hydra.sweep.dir


def _sweep_folders() -> set:
    root = _sweep_root()
    return set(root.iterdir()) if root.is_dir() else set()


def _remove_empty_sweep_folders(before: set) -> None:
    """Hydra makes a sweep folder per multirun; ours hold only Hydra's multirun.yaml (results go
    to results_dir), so the ones this sweep made are removed again, unless a launcher left other
    files there (submitit's job logs, for instance)."""
    import shutil

    for folder in _sweep_folders() - before:
        if not any(p.is_file() and p.name != "multirun.yaml" for p in folder.rglob("*")):
            shutil.rmtree(folder, ignore_errors=True)
    try:
        _sweep_root().rmdir()  # only when empty
    except OSError:
        pass


def _final_status(cfg) -> str | None:
    """'complete' or 'diverged' if the run's results say it is finished, else None. Read from
    disk, so that it works whichever launcher (in-process, joblib workers) trains the runs."""
    from harness.identity import folder_of
    from harness.results import CorruptFile, read_epochs
    from harness.runner import FINISHED

    try:
        rows = read_epochs(folder_of(cfg))
    except CorruptFile:
        return None
    return rows[-1]["status"] if rows and rows[-1]["status"] in FINISHED else None


def sweep_counts(configs: list, finished_before: list[str | None]) -> str:
    """'6 runs: 2 complete, 4 skipped', counting distinct runs: two jobs of a sweep that differ
    only in what does not change the result (threads, data.root) are one run, trained once.
    A run that raised is 'failed' (retried by the same command); one that did not finish for
    another reason (another process is training it, Ctrl-C) is 'unfinished'."""
    from harness.identity import folder_of

    counts: dict[str, int] = {}
    seen = set()
    for cfg, before in zip(configs, finished_before):
        folder = folder_of(cfg)
        if folder in seen:
            continue
        seen.add(folder)
        outcome = "skipped" if before else (_final_status(cfg) or ("failed" if _failed_now(cfg) else "unfinished"))
        counts[outcome] = counts.get(outcome, 0) + 1
    runs = len(seen)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    if runs == len(configs):
        return f"{runs} {_plural(runs, 'run')}: {summary}"
    same = len(configs) - runs
    return (f"{len(configs)} jobs, {runs} {_plural(runs, 'run')}: {summary} "
            f"({same} {_plural(same, 'job')} {'was' if same == 1 else 'were'} the same run as another)")


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"
