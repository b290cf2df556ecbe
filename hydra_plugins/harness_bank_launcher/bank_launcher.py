"""The bank launcher: Hydra hands it a sweep's whole job list; it composes every job as the basic
launcher does, groups the runs that can share a bank (``harness.bank.banks``), trains each bank
(``harness.bank.trainer.train``) and every other run through the ordinary job, after one line
saying why it trains alone. With ``n_jobs`` > 1 the banks are split so that every process gets one
and they train ``n_jobs`` at a time in forked processes: on a CPU, one bank per core (threads=1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf, open_dict


class BankLauncher(Launcher):
    def __init__(self, size: int = 64, n_jobs: int = 1) -> None:
        super().__init__()
        from harness.errors import fail

        for key, value, example in (("size", size, 64), ("n_jobs", n_jobs, 2)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                fail(f"hydra.launcher.{key}={value} must be a whole number >= 1, e.g. hydra.launcher.{key}={example}")
        self.size, self.n_jobs = size, n_jobs
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.bank import banks
        from harness.bank.trainer import BankInterrupted, summary_line
        from harness.errors import HarnessError, fail
        from harness.identity import shown
        from harness.progress import sweep_label
        from harness.validate import validate

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        sweep_configs = []
        for idx, overrides in enumerate(job_overrides, initial_job_idx):
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = sweep_config.hydra.job.num = idx
            sweep_configs.append(sweep_config)
        HydraConfig.instance().set_config(sweep_configs[0])  # relative results_dir: where the command started
        try:
            runs = [validate(_task_config(c)) for c in sweep_configs]
        except HarnessError as exc:
            fail(str(exc))
        grouped, alone = banks(runs, self.size)
        grouped = spread(grouped, self.n_jobs)
        returns: list[JobReturn | None] = [None] * len(runs)
        for i in sorted(alone):
            cfg = runs[i]
            print(f"harness: bank: {cfg.framework.name} {cfg.scheduler.name} seed={cfg.seed} trains on its own: "
                  f"{alone[i]}", flush=True)
            returns[i] = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                 config=sweep_configs[i], job_dir_key="hydra.sweep.dir",
                                 job_subdir_key="hydra.sweep.subdir")
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        for members in grouped:
            print(f"harness: bank of {len(members)} runs: "
                  f"{', '.join(f'{runs[i].scheduler.name} seed={runs[i].seed}' for i in members)}", flush=True)
        outcomes = _train_all([[runs[i] for i in members] for members in grouped], self.n_jobs)
        stops = [stop for outcome in outcomes if isinstance(outcome, BankInterrupted) for stop in outcome.stops]
        errors = [outcome for outcome in outcomes if isinstance(outcome, HarnessError)]
        if errors:
            fail(str(errors[0]))
        if stops:
            for stop in stops:
                print(f"harness: {stop}; results so far in {shown(stop.run_dir)}/; run the same command to resume",
                      file=sys.stderr)
            sys.exit(130)
        for members, summaries in zip(grouped, outcomes):
            for place, (i, summary) in enumerate(zip(members, summaries)):
                line = summary_line(runs[i], summary, place, len(members), sweep_label(runs[i]))
                print(line, file=sys.stderr if summary.status == "failed" else sys.stdout, flush=True)
                returns[i] = JobReturn(overrides=list(job_overrides[i]), cfg=_task_config(sweep_configs[i]),
                                       hydra_cfg=sweep_configs[i], working_dir=os.getcwd(),
                                       task_name=sweep_configs[i].hydra.job.name, status=JobStatus.COMPLETED)
        return returns


def spread(grouped: list[list[int]], n_jobs: int) -> list[list[int]]:
    """The banks split so that ``n_jobs`` processes each get one where there are enough runs: a bank of
    8 runs with n_jobs=2 becomes two banks of 4 (every run is still in exactly one bank)."""
    if n_jobs < 2 or len(grouped) >= n_jobs:
        return grouped
    out = []
    for members in grouped:
        pieces = min(len(members), max(1, n_jobs // len(grouped)))
        out += [members[k::pieces] for k in range(pieces)]
    return out


def _train_one(cfgs):
    """One bank in this process: its summaries, or the exception that stopped it (returned, so that a
    forked process hands it back)."""
    import contextlib as _contextlib

    from harness.bank.trainer import BankInterrupted, train
    from harness.errors import HarnessError
    from harness.progress import reported

    try:
        with _contextlib.ExitStack() as jobs:  # each run's sweep lines and ledger mark, as its job's
            # entered last to first: the stack closes them first to last, so the end lines come in sweep order
            started = [jobs.enter_context(reported(cfg)).started for cfg in reversed(cfgs)][::-1]
            return train(cfgs, on_start=started)
    except (HarnessError, BankInterrupted) as stopped:
        return stopped


def _train_all(bank_cfgs: list[list], n_jobs: int) -> list:
    """Every bank's outcome, in order: in this process, or ``n_jobs`` at a time in forked ones."""
    if n_jobs < 2 or len(bank_cfgs) < 2:
        return [_train_one(cfgs) for cfgs in bank_cfgs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(n_jobs, len(bank_cfgs)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_train_one, cfgs) for cfgs in bank_cfgs]
        outcomes = []
        for future in futures:
            while True:
                try:  # Ctrl-C reaches the workers too: each stops its bank and hands back its stops
                    outcomes.append(future.result())
                    break
                except KeyboardInterrupt:
                    continue
        return outcomes


def _task_config(sweep_config):
    """The job's own config, without Hydra's node (what a task function receives)."""
    task = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
    return task
