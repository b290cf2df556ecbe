"""Config composition: every option and experiment composes, typos fail, run_id is stable."""

from __future__ import annotations

import pytest

from harness.cli import compose_run, group_options, preflight
from harness.identity import run_id
from harness.schema import FRAMEWORKS
from harness.validate import validate
from harness.errors import HarnessError

GROUPS = ("framework", "model", "scheduler", "optimizer", "data")


@pytest.mark.parametrize("group, option", [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_config_option_composes_and_validates(group, option):
    from tests.conftest import alone_needs

    cfg = compose_run([f"{group}={option}", *alone_needs(option)])
    validate(cfg)
    assert cfg[group].name == option.replace("fashion_mnist", "fashion_mnist")


@pytest.mark.parametrize("experiment", group_options("experiments"))
def test_every_experiment_composes_and_validates_and_states_its_question(experiment):
    from harness.paths import EXPERIMENTS_DIR

    validate(compose_run([f"experiments={experiment}"]))
    text = (EXPERIMENTS_DIR / f"{experiment}.yaml").read_text()
    comments = [line for line in text.splitlines() if line.startswith("#") and "@package" not in line]
    assert comments[0].startswith("# Question:"), "first comment states the question"
    assert any("python -m harness" in line for line in comments), "a comment gives the exact command"


def test_defaults_are_the_d2l_setup():
    cfg = compose_run([])
    assert (cfg.framework.name, cfg.model.name, cfg.scheduler.name, cfg.optimizer.name) == ("torch", "lenet", "cosine", "sgd")
    assert (cfg.epochs, cfg.batch_size, cfg.scheduler.base_lr, cfg.scheduler.final_lr, cfg.scheduler.total_steps) == (30, 256, 0.3, 0.01, 20)
    assert cfg.device == "auto" and cfg.results_dir == "results" and cfg.protocol == "clean"


def test_experiment_overrides_defaults_and_command_line_overrides_experiment():
    # _self_ comes before `experiments` in conf/config.yaml, so a preset beats the defaults...
    assert compose_run(["experiments=quick"]).epochs == 3
    # ...and the command line beats the preset.
    assert compose_run(["experiments=quick", "epochs=5"]).epochs == 5


def test_all_frameworks_have_a_config():
    assert sorted(group_options("framework")) == sorted(FRAMEWORKS)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["epocs=3"], "unknown key 'epocs'"),
        (["scheduler.base_lrr=0.1"], "unknown key 'scheduler.base_lrr'"),
        (["scheduler=cosin"], "scheduler='cosin' is unknown (did you mean 'cosine'?); choose one of: "),  # the list: tests/test_cli.py
        (["framework=jax"], "framework='jax' is unknown; choose one of: mxnet, tf, torch"),
        (["epochs=abc"], "epochs=abc"),
        (["epochs=0"], "epochs=0 must be at least 1"),
        (["scheduler.base_lr=-0.1"], "base_lr=-0.1"),
        (["scheduler=warmup", "scheduler.warmup_steps=20"], "warmup_steps=20"),
        (["scheduler=multifactor", "scheduler.milestones=[30,15]"], "milestones=[30, 15]"),
        (["batch_size=4096", "data.train_size=2048"], "batch_size=4096 is larger than the 2048"),
        (["device=tpu"], "device='tpu' is unknown"),
        (["-m", "scheduler=constant,cosin"], "scheduler='cosin' is unknown"),
        (["scheduler=constant,cosine"], "add -m"),
    ],
)
def test_bad_settings_fail_before_any_run_with_one_line(args, needle):
    with pytest.raises(HarnessError) as info:
        preflight(args)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_a_sweep_is_checked_point_by_point():
    assert len(preflight(["-m", "scheduler=constant,cosine", "seed=0,1,2"])) == 6
    with pytest.raises(HarnessError, match="warmup_steps=25"):
        preflight(["-m", "scheduler=warmup", "scheduler.warmup_steps=3,25"])


def test_a_presets_own_sweep_is_expanded_and_the_command_line_overrides_it_key_by_key():
    clean = preflight(["-m", "experiments=d2l_clean"])
    assert len(clean) == 54 and len({run_id(cfg) for cfg in clean}) == 54
    assert {cfg.framework.name for cfg in clean} == {"torch", "tf", "mxnet"}
    tf_only = preflight(["-m", "experiments=d2l_clean", "framework=tf", "epochs=2"])
    assert len(tf_only) == 18 and {(cfg.framework.name, cfg.epochs) for cfg in tf_only} == {("tf", 2)}
    assert len(preflight(["-m", "experiments=d2l_tabs"])) == 15
    assert len(preflight(["experiments=d2l_clean"])) == 1  # without -m Hydra runs one config


def test_run_id_depends_on_what_changes_the_result_only():
    base = run_id(compose_run([]))
    assert run_id(compose_run([])) == base
    assert run_id(compose_run(["results_dir=/elsewhere", "progress=false", "data.root=/x"])) == base
    assert run_id(compose_run(["seed=1"])) != base
    assert run_id(compose_run(["scheduler.base_lr=0.2"])) != base
    assert run_id(compose_run(["data.train_size=2048"])) != base


def test_the_schema_needs_neither_hydra_nor_omegaconf_and_reads_conf_as_omegaconf_does():
    """harness/schema.py spells omegaconf.MISSING itself and reads the scheduler kinds with PyYAML,
    so that a cached config (plot-schedule) is validated without loading either."""
    import subprocess
    import sys

    from omegaconf import MISSING, OmegaConf

    from harness import schema
    from harness.paths import CONF_DIR

    assert schema.MISSING == MISSING
    assert schema.scheduler_kinds() == {p.stem: OmegaConf.load(p).kind for p in sorted((CONF_DIR / "scheduler").glob("*.yaml"))}
    code = ("import sys, harness.schema, harness.identity, harness.plan, harness.cli\n"
            "print(sorted(m for m in ('hydra', 'omegaconf') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=CONF_DIR.parent, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
