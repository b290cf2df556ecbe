"""Scale-out through Hydra's launchers: submitit (its local executor stands in for SLURM, same
plugin, one process per run) gives the basic launcher's results value for value, and a second
launch submits nothing; the SLURM preset composes; sweep progress lines come from disk."""

from __future__ import annotations

import os
import sys

import pandas as pd
import pytest

from harness.cli import preflight
from harness.identity import folder_of
from harness.runner import run
from harness.validate import validate
from tests.conftest import framework_installed, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
TINY = ["framework=torch", "data.train_size=512", "data.test_size=500", "epochs=2", "threads=1", "progress=false"]
SWEEP = [*TINY, "scheduler=constant,cosine", "seed=0,1"]
NOT_COMPARED = ["train_time_s", "eval_time_s"]  # how long, not what


def table(results_dir):
    return (pd.read_parquet(results_dir).drop(columns=NOT_COMPARED)
            .sort_values(["run_id", "epoch"]).reset_index(drop=True))


@pytest.fixture(scope="module")
def submitit(tmp_path_factory):
    if not framework_installed("torch"):
        pytest.skip("torch is not installed")
    base = tmp_path_factory.mktemp("launchers")
    results = base / "submitit"

    def launch(sweep_dir):
        return run_cli("-m", *SWEEP, f"results_dir={results}", "hydra/launcher=submitit_local",
                       "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={sweep_dir}", timeout=900)

    first = launch(base / "sweep1")
    written = {p: p.stat().st_mtime_ns for p in results.glob("*/epochs.parquet")}
    second = launch(base / "sweep2")
    basic = base / "basic"
    for cfg in preflight(["-m", *SWEEP, f"results_dir={basic}"]):  # what the basic launcher runs, in-process
        assert run(validate(cfg)).status == "complete"
    logs = {sweep: "".join(p.read_text() for p in sorted((base / sweep / ".submitit").glob("*/*_log.out")))
            for sweep in ("sweep1", "sweep2")}
    return dict(first=first, second=second, results=results, basic=basic, written=written, logs=logs,
                sweep2=base / "sweep2")


def test_submitit_sweep_equals_the_basic_launcher_value_for_value(submitit):
    assert submitit["first"].returncode == 0, submitit["first"].stderr
    assert "harness: sweep done: 4 runs: 4 complete" in submitit["first"].stdout
    got, expected = table(submitit["results"]), table(submitit["basic"])
    assert len(got) == 8 and got["run_id"].nunique() == 4
    pd.testing.assert_frame_equal(got, expected)


def test_a_second_submitit_launch_trains_nothing(submitit):
    assert submitit["second"].returncode == 0, submitit["second"].stderr
    assert "harness: sweep done: 4 runs: 4 skipped" in submitit["second"].stdout
    assert {p: p.stat().st_mtime_ns for p in submitit["results"].glob("*/epochs.parquet")} == submitit["written"]
    # Every run was finished, so nothing went to the queue: no job, no job log, and the launch itself
    # names each run (on SLURM that saves a wait in the queue for jobs that would do nothing).
    assert submitit["second"].stdout.count("is already finished") == 4
    assert submitit["logs"]["sweep2"] == "" and not (submitit["sweep2"] / ".submitit").exists()


def test_each_submitit_job_prints_its_progress_from_disk(submitit):
    log = submitit["logs"]["sweep1"]
    for position, name in enumerate(["constant seed=0", "constant seed=1", "cosine seed=0", "cosine seed=1"], 1):
        assert f"harness: [{position}/4] torch {name} starting (" in log
        assert f"harness: [{position}/4] torch {name} complete (" in log
    assert log.count("none left") >= 1  # the last job to finish saw every run done


def test_progress_estimate_counts_runs_finished_in_this_sweep(tmp_path, monkeypatch):
    from harness import progress

    cfgs = preflight(["-m", *SWEEP, f"results_dir={tmp_path}"])
    statuses = {str(folder_of(c)): s for c, s in zip(cfgs, ["complete", "complete", None, None])}
    monkeypatch.setattr(progress, "_status_on_disk", lambda path: statuses[str(path)])
    manifest = {"started": 1000.0, "runs": list(statuses), "finished_before": [True, False, False, False]}
    # One run finished before the sweep, one trained in it in 600 s: two left, about 20 min.
    assert progress.line(manifest, 3, "torch cosine seed=0", "starting", 1600.0) == \
        "harness: [3/4] torch cosine seed=0 starting (2 left, about 20 min)"
    manifest["finished_before"][1] = True  # nothing timed in this sweep yet: no estimate
    assert progress.line(manifest, 3, "x", "starting", 1600.0) == "harness: [3/4] x starting (2 left)"


def test_slurm_cpu_preset_is_one_run_per_task_with_threads_from_its_cpus(monkeypatch):
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs
    from harness.paths import CONF_DIR
    from harness.launch import limit_cpu_threads

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm_cpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.nodes, launcher.cpus_per_task) == (1, 1, 4)
    assert cfg.threads == 0
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")  # what SLURM puts in a job with --cpus-per-task=4
    torch = sys.modules.get("torch")  # limit_cpu_threads also tells an imported torch: undo it after
    before = torch.get_num_threads() if torch else None
    try:
        limit_cpu_threads(cfg.threads)  # threads=0 in a SLURM job: its CPUs per task
    finally:
        if torch:
            torch.set_num_threads(before)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["TF_NUM_INTRAOP_THREADS"] == "4"
