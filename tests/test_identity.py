"""What a run is: one canonical config, ids that never move, rows that say what ran, safe upgrades."""

from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from harness.cli import compose_run, expand_runs, preflight
from harness.schema import HarnessConfig
from harness.validate import validate
from harness.errors import HarnessError
from harness.identity import model_hash, run_dir, run_id, variant
from harness.schema import Plain, as_dict
from harness.validate import canonical_config
from harness.results import EPOCHS_SCHEMA, SCHEMA_VERSION, CorruptFile, read_epochs
from tests.conftest import PROJECT_ROOT, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

STUDY = PROJECT_ROOT / "results" / "d2l_study"
STUDY_RUNS = sorted(p for p in STUDY.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_the_committed_study_keeps_every_run_id():
    assert len(STUDY_RUNS) == 69
    for folder in STUDY_RUNS:
        cfg = OmegaConf.merge(OmegaConf.structured(HarnessConfig), OmegaConf.load(folder / "_config.yaml"))
        validate(cfg)
        assert folder.name.endswith(run_id(canonical_config(cfg))), folder.name


def test_a_new_key_at_its_default_does_not_enter_the_id_but_a_set_one_does(monkeypatch):
    from harness import identity

    cfg = identity.as_dict(canonical_config(compose_run([])))
    before = run_id(Plain.of(cfg))
    defaults = identity.schema_defaults()
    defaults["optimizer"]["added_later"] = 0.0  # as if a later version added this key
    monkeypatch.setattr(identity, "schema_defaults", lambda: defaults)
    cfg["optimizer"]["added_later"] = 0.0
    assert run_id(Plain.of(cfg)) == before  # at its default: left out of the hash
    cfg["optimizer"]["added_later"] = 0.1
    assert run_id(Plain.of(cfg)) != before  # set: a different run


@pytest.mark.parametrize("same, other", [
    (["data.train_size=60000"], []),
    (["data.test_size=10000"], []),
    (["data.train_size=2048", "data.test_size=10000"], ["data.train_size=2048"]),
    (["results_dir=/elsewhere", "threads=1", "progress=false", "data.root=/x"], []),
])
def test_equal_experiments_get_equal_ids(same, other):
    (a,), (b,) = preflight(same), preflight(other)
    assert run_id(canonical_config(a)) == run_id(canonical_config(b))


def test_different_experiments_get_different_ids_and_labels():
    ids = {run_id(canonical_config(cfg)) for cfg in preflight(
        ["-m", "scheduler.total_steps=2,20", "optimizer.momentum=0,0.9", "data.subset_seed=0,1"])}
    assert len(ids) == 8
    (short,), (default,) = preflight(["scheduler.total_steps=2"]), preflight([])
    assert variant(short) == "cosine(lr=0.3, final=0.01, T=2)" and variant(default) == "cosine(lr=0.3, final=0.01, T=20)"
    (step,) = preflight(["scheduler=warmup", "scheduler.unit=step"])
    assert variant(step) == "warmup(lr=0.3, final=0.01, T=20, warmup=5, warmup_from=0, per step)"
    (wide,) = preflight(["model.layers.0.channels=12"])
    assert model_hash(wide.model) != model_hash(default.model) and wide.model.name == default.model.name


@pytest.mark.parametrize("overrides", [
    ["scheduler=warmup", "scheduler.unit=step"],
    ["scheduler=multifactor", "scheduler.milestones=[3,6]"],
    ["scheduler=onecycle", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9"],
    ["scheduler=constant", "scheduler.base_lr=0.05"],
])
def test_the_report_labels_a_run_without_a_variant_column_as_the_runner_does(tmp_path, overrides):
    """Files written before the parquet had a ``variant`` column (the committed d2l study's) are
    labelled from their ``_config.yaml``, by the runner's own labeller."""
    from harness.report.load import _from_config

    (cfg,) = preflight(overrides)
    (tmp_path / "_config.yaml").write_text(OmegaConf.to_yaml(as_dict(cfg)))  # as runner._train writes it
    assert _from_config(tmp_path / "_config.yaml")["variant"] == variant(cfg)
    d2l_cosine = next(f for f in STUDY_RUNS if f.name.startswith("torch-cosine-s0-"))
    assert _from_config(d2l_cosine / "_config.yaml")["variant"] == "cosine(lr=0.3, final=0.01, T=20)"


def test_the_fast_preflight_gives_hydras_own_configs():
    """Composed once per group choice, values applied with Hydra's override code: the same
    configs as Hydra's full composition of each run, for group and value overrides, lists,
    interpolations, a preset, ++ and a preset's own sweep."""
    commands = [
        ["-m", "scheduler=constant,warmup", "seed=0,3", "scheduler.base_lr=0.1,0.2", "data.train_size=1024"],
        ["-m", "experiments=quick", "scheduler=multifactor", "scheduler.milestones=[2,4],[1,3]", "epochs=5"],
        ["-m", "scheduler.total_steps=${epochs}", "epochs=4,6", "++batch_size=128"],
        ["-m", "model.layers.0.channels=8,12", "optimizer.momentum=0.5"],
    ]
    def hydras(overrides):  # Hydra's full composition, made the run the preflight makes of it
        return as_dict(validate(compose_run(overrides)))

    for args in commands:
        fast = preflight(args)
        slow = [hydras(overrides) for overrides in expand_runs(args)]
        assert [as_dict(cfg) for cfg in fast] == slow
        assert all(validate(cfg) is cfg for cfg in fast)  # a finished sweep's jobs take them as they are
    preset = preflight(["-m", "experiments=d2l_tabs", "epochs=2"])
    composed = [hydras(o) for o in expand_runs(
        ["-m", "framework=torch,tf,mxnet", "scheduler=constant,sqrt,multifactor,cosine,warmup", "seed=0",
         "experiments=d2l_tabs", "epochs=2"])]
    assert len(preset) == 15 and [as_dict(cfg) for cfg in preset] == composed


def test_a_bad_value_anywhere_in_a_sweep_fails_before_anything_runs():
    with pytest.raises(HarnessError, match=r"seed=-1 must be an integer in \[0, 2\^32\)"):
        preflight(["-m", "seed=0,-1,2"])
    with pytest.raises(HarnessError, match="epochs=abc"):
        preflight(["-m", "epochs=1,abc"])


@pytest.mark.parametrize("name", ["../../../pwned", "a/b", ".hidden", "", "x y"])
def test_unsafe_names_are_refused(name):
    for key in ("scheduler.name", "model.name", "optimizer.name", "framework.name"):
        with pytest.raises(HarnessError, match="cannot be used in a file name"):
            preflight([f"{key}='{name}'"])


def test_a_run_folder_always_lies_inside_results_dir(tmp_path):
    for cfg in preflight(["-m", "scheduler=constant,cosine,warmup", "seed=0,4294967295", f"results_dir={tmp_path}/r"]):
        folder = run_dir(canonical_config(cfg), tmp_path / "r")
        assert folder.parent == tmp_path / "r" and folder.resolve().is_relative_to((tmp_path / "r").resolve())


def _v1_table(rows: int = 2) -> pa.Table:
    """A table in schema version 1: the columns before the additions of version 2."""
    v1 = pa.schema([f for f in EPOCHS_SCHEMA if f.name != "variant"][: EPOCHS_SCHEMA.get_field_index("variant")])
    return pa.Table.from_pylist([{name: None for name in v1.names} | {"schema_version": 1, "status": "complete",
                                  "epoch": i} for i in range(rows)], schema=v1)


def test_an_older_schema_is_read_with_its_missing_columns_null(tmp_path):
    pq.write_table(_v1_table(), tmp_path / "epochs.parquet")
    rows = read_epochs(tmp_path)
    assert len(rows) == 2 and set(rows[0]) == set(EPOCHS_SCHEMA.names)
    assert rows[0]["schema_version"] == 1 and rows[0]["variant"] is None and SCHEMA_VERSION > 1


def test_a_file_with_a_column_we_never_wrote_is_corrupt(tmp_path):
    table = _v1_table().append_column("surprise", pa.array([1, 2]))
    pq.write_table(table, tmp_path / "epochs.parquet")
    with pytest.raises(CorruptFile, match="surprise"):
        read_epochs(tmp_path)
    retyped = _v1_table().set_column(EPOCHS_SCHEMA.get_field_index("seed"), "seed", pa.array(["a", "b"]))
    pq.write_table(retyped, tmp_path / "epochs.parquet")
    with pytest.raises(CorruptFile, match="seed"):
        read_epochs(tmp_path)


def test_upgrading_sweeps_the_committed_study_again_without_training_or_setting_aside(tmp_path):
    """The committed study was written by schema version 1: the new code skips every run."""
    copy = tmp_path / "study"
    shutil.copytree(STUDY, copy, ignore=shutil.ignore_patterns("_report"))
    before = {p: p.read_bytes() for p in copy.rglob("*.parquet")}
    for preset, count in (("d2l_clean", 54), ("d2l_tabs", 15)):
        out = run_cli("-m", f"experiments={preset}", f"results_dir={copy}", "progress=false")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == f"harness: sweep done: {count} runs: {count} skipped"
    assert not (copy / "_corrupt").exists() and not (copy / "_superseded").exists()
    assert {p: p.read_bytes() for p in copy.rglob("*.parquet")} == before
    out = run_cli("report", str(copy))
    assert out.returncode == 0, out.stderr
    assert (copy / "_report" / "index.html").stat().st_size > 10_000


def test_sweep_counts_distinct_runs_and_results_land_in_results_dir_whatever_hydras_cwd(tmp_path):
    out = run_cli("-m", "threads=1,2", "hydra.job.chdir=true", "results_dir=rel", "epochs=1",
                  "data.train_size=512", "data.test_size=500", "progress=false", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "harness: sweep done: 2 jobs, 1 run: 1 complete (1 job was the same run as another)"
    (folder,) = (tmp_path / "rel").glob("torch-cosine-s0-*")
    assert f"results in rel/{folder.name}/" in out.stdout
    assert (folder / "epochs.parquet").exists()
    rows = read_epochs(folder)
    assert rows[0]["variant"] == "cosine(lr=0.3, final=0.01, T=20)" and rows[0]["schema_version"] == SCHEMA_VERSION
    assert rows[0]["model_hash"] == model_hash(compose_run([]).model) and rows[0]["subset_seed"] == 0
    assert rows[0]["optimizer_params"] == '{"momentum":0.0,"nesterov":false,"weight_decay":0.0}'
    umask = os.umask(0)
    os.umask(umask)
    assert (folder / "epochs.parquet").stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() would
