"""The bank launcher: Hydra hands it a sweep's whole job list; it composes every job as the basic
launcher does, groups the runs that can share a bank (``harness.bank.banks``), trains each bank
in this process (``harness.bank.trainer.train``) and every other run through the ordinary job,
after one line saying why it trains alone."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf, open_dict


class BankLauncher(Launcher):
    def __init__(self, size: int = 64) -> None:
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            from harness.errors import fail

            fail(f"hydra.launcher.size={size} must be a whole number of runs >= 1, e.g. hydra.launcher.size=64")
        self.size = size
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.bank import banks
        from harness.bank.trainer import BankInterrupted, summary_line, train
        from harness.errors import HarnessError, fail
        from harness.identity import shown
        from harness.progress import reported, sweep_label
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
            try:
                with contextlib.ExitStack() as jobs:  # each run's sweep lines and ledger mark, as its job's
                    started = [jobs.enter_context(reported(runs[i])).started for i in members]
                    summaries = train([runs[i] for i in members], on_start=started)
            except HarnessError as exc:
                fail(str(exc))
            except BankInterrupted as stopped:
                for stop in stopped.stops:
                    print(f"harness: {stop}; results so far in {shown(stop.run_dir)}/; run the same command to resume",
                          file=sys.stderr)
                sys.exit(130)
            for place, (i, summary) in enumerate(zip(members, summaries)):
                line = summary_line(runs[i], summary, place, len(members), sweep_label(runs[i]))
                print(line, file=sys.stderr if summary.status == "failed" else sys.stdout, flush=True)
                returns[i] = JobReturn(overrides=list(job_overrides[i]), cfg=_task_config(sweep_configs[i]),
                                       hydra_cfg=sweep_configs[i], working_dir=os.getcwd(),
                                       task_name=sweep_configs[i].hydra.job.name, status=JobStatus.COMPLETED)
        return returns


def _task_config(sweep_config):
    """The job's own config, without Hydra's node (what a task function receives)."""
    task = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
    return task
