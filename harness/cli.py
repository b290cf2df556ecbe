"""Command line: ``python -m harness [-m] KEY=VALUE ...`` (Hydra), ``python -m harness report``
and ``python -m harness find-lr`` (harness/commands/find_lr.py).

Before Hydra starts any run, every run of the command (each point of a sweep) is composed
and validated (harness/preflight.py), so a typo or an invalid value fails in well under a second
with one line, a non-zero exit and nothing written, instead of a traceback after hours of a sweep.
No framework is imported here: ``--help`` stays fast. Nor is Hydra until a command needs it:
plot-schedule reuses configs Hydra composed before (harness/compose_cache.py) without it.
"""

from __future__ import annotations

import sys

from harness.errors import HarnessError, fail
from harness.paths import CONF_DIR
from harness.preflight import MULTIRUN_FLAGS, compose_run, expand_runs, group_options, one_line, preflight
from harness.schema import CONFIG_GROUPS

# Hydra flags that print information instead of running: handed to Hydra untouched.
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--version"}


def _task(cfg) -> None:
    """One job: a launcher's (Hydra's composed config, validated here) or, for a finished sweep,
    the preflight's ``RunConfig``."""
    from harness.identity import shown
    from harness.progress import reported, sweep_label
    from harness.runner import Interrupted, run
    from harness.validate import validate

    try:
        cfg = validate(cfg)
        # In a sweep: "harness: [7/18] torch cosine (lr=0.1) seed=2 starting (12 left, ...)", once
        # this process holds the run and trains it.
        with reported(cfg) as job:
            summary = run(cfg, on_start=job.started)
    except HarnessError as exc:
        fail(str(exc))
    except Interrupted as stop:
        print(f"harness: {stop}; results so far in {shown(stop.run_dir)}/; run the same command to resume",
              file=sys.stderr)
        sys.exit(130)
    name = sweep_label(cfg) or run_name(cfg)
    if summary.status == "failed":
        # One line, and the sweep goes on; main() exits non-zero once every run has had its turn.
        print(f"harness: failed: {name}: {summary.error}; traceback in {shown(summary.run_dir)}/_failed.txt; "
              f"run the same command to retry it", file=sys.stderr)
        return
    if summary.set_aside is not None:
        why = "unreadable" if summary.set_aside.parent.name == "_corrupt" else "earlier"
        print(f"harness: note: {why} results of {name} moved to {shown(summary.set_aside)}/")
    if summary.status == "busy":
        print(f"harness: skipped: {name} is owned by another process, which is training it now; "
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


def run_name(cfg) -> str:
    """A single run's name in its summary line: framework, schedule, optimizer and peak rate, the
    schedule's settings that differ from its option's YAML file, and the seed:
    ``torch cosine (adam, lr=0.001, final_lr=0) seed=0``."""
    from omegaconf import OmegaConf

    from harness.identity import schedule_column
    from harness.run_labels import describe

    try:
        option = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "scheduler" / f"{cfg.scheduler.name}.yaml"))
    except OSError:
        option = {}
    params = schedule_column(cfg)
    rate = "max_lr" if params.get("max_lr") is not None else "base_lr"
    # A length the option leaves unset is derived from the run (validate.canonical_config): not a change.
    changed = [k for k, v in params.items() if k not in ("kind", rate) and v != option.get(k)
               and not (k == "total_steps" and option.get(k) is None)]
    settings = describe(params, [rate, *changed])
    return f"{cfg.framework.name} {cfg.scheduler.name} ({cfg.optimizer.name}, {settings}) seed={cfg.seed}"


def _epochs(n: int) -> str:
    return f"{n} {_plural(n, 'epoch')}"


# Commands that are not training runs: name -> the module whose main(args) runs it.
COMMANDS = {
    "report": "harness.report",
    "plan": "harness.commands.dry_run",
    "find-lr": "harness.commands.find_lr",
    "plot-schedule": "harness.commands.plot_schedule",
    "status": "harness.commands.status",
    "study": "harness.studies.run_study",
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
    """The command line; a reader that closes the pipe early (``status | head``) ends it quietly."""
    try:
        try:
            _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe fails here, inside the try, not at interpreter exit
    except BrokenPipeError:
        import os

        # Python would flush stdout again on exit and print the same error: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, as a tool killed by the signal exits


def _main(argv: list[str] | None = None) -> None:
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
        # only removes a stale checkpoint and says where the results are, naming the run as the
        # sweep's lines do.
        from harness.progress import sweep_announced

        with sweep_announced(configs if multirun else [], finished_before, ledger=False):
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
    from harness.progress import sweep_announced, trained_here

    # A sweep's jobs (in any launcher's processes) find the sweep's runs in their environment.
    with sweep_announced(configs if multirun else [], finished_before) as ledger:
        try:
            hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)()
        finally:
            trained = trained_here(ledger)
    from harness.identity import folder_of

    if multirun:
        _remove_empty_sweep_folders(sweeps_before)
    if multirun and configs:
        print(f"harness: sweep done: {sweep_counts(configs, finished_before, trained)}")
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
        fail(one_line(exc))
    listed = problems()
    width = max((len(command) for command, _ in listed.values()), default=0)
    problem_lines = "\n".join(f"{command:<{width}}  {cost}" for command, cost in listed.values())
    return (f"{help_text.header}\n== Configuration groups ==\nCompose your configuration from those groups "
            f"(group=option)\n\n{groups}\n\n\n== Problems ==\nA model and its dataset; one epoch here, "
            f"PyTorch, train + test (README, \"Problems\": the CPU)\n\n{problem_lines}\n\n\n"
            f"== Config ==\nOverride anything in the config (foo.bar=value)\n\n"
            f"{config}\n{help_text.footer.rstrip()}\n")


def problems() -> dict[str, tuple[str, str]]:
    """Model preset -> (the settings that train it on its dataset, one epoch's cost here), read
    from the line ``# Problem: model=M data=D ...; one epoch: COST`` a preset in conf/model/ has
    when it is a problem (the README's "Problems" table agrees, tests/test_problems.py)."""
    found = {}
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        for line in path.read_text().splitlines():
            if line.startswith("# Problem: "):
                command, _, cost = line.removeprefix("# Problem: ").partition("; one epoch: ")
                found[path.stem] = (command, cost)
    return found


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
    """'complete' or 'diverged' if the run's results say it is finished, else None (whichever
    launcher, in-process or joblib workers, trained it)."""
    from harness.identity import folder_of
    from harness.results import finished_status

    return finished_status(folder_of(cfg))


def sweep_counts(configs: list, finished_before: list[str | None], trained: set[str] | None = None) -> str:
    """'6 runs: 2 complete, 4 skipped', counting distinct runs: two jobs of a sweep that differ
    only in what does not change the result (threads, data.root) are one run, trained once.
    A run that raised is 'failed' (retried by the same command); one that did not finish for
    another reason (Ctrl-C) is 'unfinished'. ``trained``, the run folders' names this command's
    jobs trained (the sweep's ledger, harness.progress): a run another process trained or holds is
    counted as that, and named, never as this command's 'complete'."""
    from harness.identity import folder_of
    from harness.progress import run_labels

    counts: dict[str, int] = {}
    elsewhere: list[str] = []
    seen = set()
    labels = run_labels(configs)
    for cfg, before, label in zip(configs, finished_before, labels):
        folder = folder_of(cfg)
        if folder in seen:
            continue
        seen.add(folder)
        outcome = "skipped" if before else (_final_status(cfg) or ("failed" if _failed_now(cfg) else "unfinished"))
        if not before and trained is not None and folder.name not in trained and outcome != "failed":
            outcome = "trained by another process" if outcome in ("complete", "diverged") else "held by another process"
            elsewhere.append(label)
        counts[outcome] = counts.get(outcome, 0) + 1
    runs = len(seen)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    if elsewhere:
        summary += f" ({'; '.join(elsewhere[:5])}{'; ...' if len(elsewhere) > 5 else ''})"
    if runs == len(configs):
        return f"{runs} {_plural(runs, 'run')}: {summary}"
    same = len(configs) - runs
    return (f"{len(configs)} jobs, {runs} {_plural(runs, 'run')}: {summary} "
            f"({same} {_plural(same, 'job')} {'was' if same == 1 else 'were'} the same run as another)")


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"
