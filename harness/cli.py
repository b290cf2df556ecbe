"""Command line: ``python -m harness [-m] KEY=VALUE ...`` (Hydra) and ``python -m harness report``.

Before Hydra starts any run, every run of the command (each point of a sweep) is composed
and validated, so a typo or an invalid value fails in well under a second with one line,
a non-zero exit and nothing written, instead of a traceback after hours of a sweep.
No framework is imported here: ``--help`` stays fast.
"""

from __future__ import annotations

import sys

from harness.config import CONF_DIR, EXPERIMENTS_DIR, register_configs
from harness.errors import HarnessError

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

    multirun = any(a in MULTIRUN_FLAGS for a in args)
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise HarnessError(f"cannot parse the command line: {_one_line(exc)}") from None
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
                raise HarnessError(f"{group}={value!r} is unknown; choose one of: {', '.join(known)}")
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

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def preflight(args: list[str]) -> list:
    """Compose and validate every run, a preset's own sweep included; return their configs."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from harness.config import validate

    def composed(overrides: list[str], hydra_node: bool = False):
        try:
            return compose(config_name="config", overrides=overrides, return_hydra_config=hydra_node)
        except (HydraException, OmegaConfBaseException) as exc:
            raise HarnessError(_explain_compose_error(exc, overrides)) from None

    runs = expand_runs(args)
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        if any(a in MULTIRUN_FLAGS for a in args):
            # A preset (experiments=...) may carry its own sweep in hydra.sweeper.params; Hydra
            # lets the command line override it key by key. Expand both, as Hydra will.
            preset_sweep = composed(runs[0], hydra_node=True).hydra.sweeper.get("params") or {}
            typed = {a.split("=")[0].lstrip("+~") for a in args if "=" in a}
            extra = [f"{key}={value}" for key, value in preset_sweep.items() if key not in typed]
            if extra:
                runs = expand_runs([*extra, *args])
        configs = []
        for overrides in runs:
            cfg = composed(overrides)
            validate(cfg)
            configs.append(cfg)
    return configs


def _explain_compose_error(exc: BaseException, overrides: list[str]) -> str:
    import dataclasses
    import difflib

    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = exc.__cause__
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and getattr(cause, "full_key", None):
        key = cause.full_key
        schema = getattr(cause, "object_type", None)
        known = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []
        close = difflib.get_close_matches(key.split(".")[-1], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; check its spelling (`python -m harness --help` lists every key)"
    return f"invalid setting in {' '.join(overrides) or 'the defaults'}: {_one_line(exc)}"


def _task(cfg) -> None:
    from harness.progress import reported
    from harness.runner import run

    try:
        with reported(cfg):  # in a sweep: "harness: [7/18] torch cosine seed=2 starting (12 left, ...)"
            summary = run(cfg)
    except HarnessError as exc:
        fail(str(exc))
    name = f"{cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed}"
    if summary.set_aside is not None:
        why = "unreadable" if summary.set_aside.parent.name == "_corrupt" else "earlier"
        print(f"harness: note: {why} results of {name} moved to {summary.set_aside}/")
    if summary.status == "busy":
        print(f"harness: skipped: {name} is being trained by another process right now; "
              f"its results will be in {summary.run_dir}/")
        return
    if summary.status == "skipped":
        print(f"harness: skipped: {name} is already finished ({summary.epochs_done} epochs); "
              f"results in {summary.run_dir}/ (rerun=true trains it again)")
        return
    resumed = f" ({summary.resumed_from} of them done before a resume)" if summary.resumed_from else ""
    print(
        f"harness: {summary.status}: {name}, {summary.epochs_done} epochs{resumed}, "
        f"final test_acc {summary.final_test_acc:.4f}; results in {summary.run_dir}/"
    )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "report":
        from harness.report import main as report_main

        sys.exit(report_main(args[1:]))
    if args and args[0] == "status":
        from harness.commands.status import main as status_main

        sys.exit(status_main(args[1:]))
    configs = []
    if not any(a in INFO_FLAGS or a.split("=")[0] in INFO_FLAGS for a in args):
        try:
            configs = preflight(args)
        except HarnessError as exc:
            fail(str(exc))
    finished_before = [None if cfg.rerun else _final_status(cfg) for cfg in configs]

    import hydra

    register_configs()
    sys.argv = [sys.argv[0], *args]
    from harness.progress import sweep_announced

    # A sweep's jobs (in any launcher's processes) find the sweep's runs in their environment.
    with sweep_announced(configs if any(a in MULTIRUN_FLAGS for a in args) else [], finished_before):
        hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)()
    if any(a in MULTIRUN_FLAGS for a in args) and configs:
        print(f"harness: sweep done: {sweep_counts(configs, finished_before)}")


def _final_status(cfg) -> str | None:
    """'complete' or 'diverged' if the run's results say it is finished, else None. Read from
    disk, so that it works whichever launcher (in-process, joblib workers) trains the runs."""
    from pathlib import Path

    from harness.config import run_id
    from harness.results import CorruptFile, read_epochs, run_dir_name
    from harness.runner import FINISHED

    run_dir = Path(cfg.results_dir) / run_dir_name(cfg.framework.name, cfg.scheduler.name, cfg.seed, run_id(cfg))
    try:
        rows = read_epochs(run_dir)
    except CorruptFile:
        return None
    return rows[-1]["status"] if rows and rows[-1]["status"] in FINISHED else None


def sweep_counts(configs: list, finished_before: list[str | None]) -> str:
    """'6 runs: 2 complete, 4 skipped'; a run that did not finish (failed, or another process
    is training it) is counted as unfinished."""
    counts: dict[str, int] = {}
    for cfg, before in zip(configs, finished_before):
        outcome = "skipped" if before else (_final_status(cfg) or "unfinished")
        counts[outcome] = counts.get(outcome, 0) + 1
    return f"{len(configs)} runs: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
