"""Issue 33, the training side: runs named by what differs (sweep lines, the summary line, status,
plan), the small items of item 9, BrokenPipe, and the warnings of item 8 (their presence where a
run is mis-set, their absence on the README's examples and the quick preset)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli, progress
from harness.cli import preflight
from harness.optimizers import rate_warning
from harness.plan_checks import horizon_warning, zero_rate_epochs, zero_rate_warning
from harness.runner import Interrupted
from tests.conftest import PROJECT_ROOT, run_cli

TINY = ["epochs=1", "data.train_size=256", "data.test_size=256", "threads=1", "progress=false"]


def warnings_of(cfg) -> list[str]:
    return [w for w in (horizon_warning(cfg), zero_rate_warning(cfg), rate_warning(cfg)) if w]


# --- names ---------------------------------------------------------------------------------------

def test_sweep_labels_name_only_what_differs_within_each_schedule():
    configs = preflight(["-m", "optimizer=sgd,adam", "scheduler=constant", "scheduler.base_lr=0.001,0.01", "seed=0,1"])
    labels = progress.run_labels(configs)
    assert labels[:2] == ["torch constant (optimizer=sgd, lr=0.001) seed=0", "torch constant (optimizer=sgd, lr=0.001) seed=1"]
    assert len(set(labels)) == len(configs) == 8
    # Another schedule tells runs apart already: a constant rate has no final_lr to list.
    mixed = progress.run_labels(preflight(["-m", "scheduler=constant,cosine", "seed=0,1"]))
    assert mixed == ["torch constant seed=0", "torch constant seed=1", "torch cosine seed=0", "torch cosine seed=1"]


def test_a_single_runs_name_has_optimizer_rate_and_what_differs_from_its_option():
    assert cli.run_name(preflight([])[0]) == "torch cosine (sgd, lr=0.3) seed=0"
    adam = preflight(["optimizer=adam", "scheduler.base_lr=0.001", "scheduler.final_lr=0", "seed=2"])[0]
    assert cli.run_name(adam) == "torch cosine (adam, lr=0.001, final_lr=0) seed=2"
    short = preflight(["experiments=quick"])[0]  # its horizon follows the run: T=3 differs from cosine.yaml's 20
    assert cli.run_name(short) == "torch cosine (sgd, lr=0.3, T=3) seed=0"
    cyclic = preflight(["scheduler=cyclic"])[0]
    assert cli.run_name(cyclic).startswith(f"torch cyclic (sgd, max_lr={cyclic.scheduler.max_lr:g}")


def test_plan_lines_differ_for_distinct_runs_and_columns_align(capsys):
    from harness.commands import dry_run

    assert dry_run.main(["-m", "scheduler=warmup", "scheduler.warmup_steps=2,4", "batch_size=128,256", "results_dir=/nonexistent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:-1]
    assert len(rows) == 4
    for column in ("variant", "settings", "seed", "folder"):
        start = header.index(column)
        assert all(row[start - 2:start] == "  " and row[start] != " " or column == "seed" for row in rows), column
    assert {row[header.index("seed") - 2:header.index("seed") + 4].split()[-1] for row in rows} == {"0"}
    assert len({row.split("/nonexistent")[0][22:] for row in rows}) == 4  # without #, state and run_id
    assert "batch=128" in rows[0] and "warmup=4" in rows[-1]


def test_sweep_counts_only_what_this_process_trained(monkeypatch):
    configs = preflight(["-m", "scheduler.base_lr=0.1,0.2,0.3", "results_dir=/nonexistent"])
    monkeypatch.setattr(cli, "_final_status", lambda cfg: "complete")
    monkeypatch.setattr(cli, "_failed_now", lambda cfg: False)
    names = [cli_folder.name for cli_folder in map(__import__("harness.identity", fromlist=["x"]).folder_of, configs)]
    assert cli.sweep_counts(configs, [None] * 3) == "3 runs: 3 complete"
    assert cli.sweep_counts(configs, [None] * 3, set(names[:2])) == \
        "3 runs: 2 complete, 1 trained by another process (torch cosine (lr=0.3) seed=0)"
    monkeypatch.setattr(cli, "_final_status", lambda cfg: None)
    assert cli.sweep_counts(configs[:1], [None], set()) == "1 run: 1 held by another process (torch cosine seed=0)"


def test_a_job_this_process_does_not_train_prints_no_progress_line(tmp_path, capsys):
    from harness.identity import folder_of

    configs = preflight(["-m", "seed=0,1", f"results_dir={tmp_path}"])
    with progress.sweep_announced(configs, [None, None]) as ledger:
        with progress.reported(configs[0]):
            pass  # the runner found the run held by another process: started() was never called
        assert capsys.readouterr().out == ""
        with progress.reported(configs[1]) as job:
            job.started()
        out = capsys.readouterr().out.splitlines()
    assert [re.sub(r" \(\d+ left.*", "", line) for line in out] == ["harness: [2/2] torch cosine seed=1 starting",
                                                                  "harness: [2/2] torch cosine seed=1 unfinished"]
    assert progress.trained_here(ledger) == {folder_of(configs[1]).name} and not ledger.exists()


def test_interrupted_counts_epochs_done_from_one():
    assert str(Interrupted(Path("r"), 1, 3)) == "interrupted after 1 of 3 epochs"
    assert str(Interrupted(Path("r"), 0, 3)) == "interrupted before its first epoch ended (0 of 3 epochs done)"


def test_status_shows_a_run_stopped_before_its_first_epoch_and_says_1_run(tmp_path):
    import yaml

    from harness.commands.status import find_runs, render
    from harness.identity import run_dir
    from harness.schema import as_dict

    cfg = preflight(["epochs=3", f"results_dir={tmp_path}"])[0]
    folder = run_dir(cfg, tmp_path)
    folder.mkdir()
    (folder / "_config.yaml").write_text(yaml.safe_dump(as_dict(cfg)))
    runs = find_runs(tmp_path)
    assert [(r["state"], r["done"], r["epochs"]) for r in runs] == [("interrupted", 0, 3)]
    assert "\n1 run: 1 interrupted; 0 of 3 epochs done" in render(runs, tmp_path, 0.0)


def test_status_into_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "harness", "status", "results/d2l_study"], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head` does once it has its lines
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 141 and stderr == "", stderr


# --- warnings ------------------------------------------------------------------------------------

def readme_run_examples() -> list[list[str]]:
    """The training commands of the README's "Everyday commands" block, as argument lists."""
    import shlex

    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split("## Everyday commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if line.startswith("python -m harness "):
            args = shlex.split(line.split("#", 1)[0])[3:]
            if args and "=" in args[-1] and not any(a in cli.COMMANDS or a.startswith("--") for a in args):
                commands.append(args)
    return commands


def test_the_readme_examples_and_the_quick_preset_warn_about_nothing():
    examples = readme_run_examples()
    assert ["data.train_size=2048", "epochs=2", "scheduler.total_steps=null"] in examples and len(examples) >= 7
    for args in [*examples, ["experiments=quick"], []]:
        for cfg in preflight(args):
            assert warnings_of(cfg) == [], (args, warnings_of(cfg))


def test_wsd_with_its_defaults_never_trains_an_epoch_at_rate_0():
    for epochs in (2, 3, 30):
        cfg = preflight(["scheduler=wsd", f"epochs={epochs}", "data.train_size=2048"])[0]
        assert zero_rate_epochs(cfg) == [] and warnings_of(cfg) == [], epochs


@pytest.mark.parametrize("args, expected", [
    (["scheduler=multifactor", "epochs=10"],
     "scheduler=multifactor: milestones=[15, 30]: milestones 15, 30 lie beyond the run's 10 epochs (unit=epoch), "
     "so the rate never drops there; set scheduler.milestones within the run"),
    (["scheduler=multifactor", "epochs=20"],
     "scheduler=multifactor: milestones=[15, 30]: milestone 30 lies beyond the run's 20 epochs (unit=epoch), "
     "so the rate never drops there; set scheduler.milestones within the run"),
    (["scheduler=sequence", "epochs=10"],
     "scheduler=sequence: boundaries=[20]: boundary 20 lies beyond the run's 10 epochs (unit=epoch), "
     "so the phase after it never runs; set scheduler.boundaries within the run"),
    (["scheduler=step", "epochs=5"],
     "scheduler=step: step_size=10 is not shorter than the run's 5 epochs (unit=epoch), so the rate never drops; "
     "set scheduler.step_size below 5"),
])
def test_milestones_boundaries_and_steps_beyond_the_run_warn(args, expected):
    assert horizon_warning(preflight(args)[0]) == expected


def test_the_d2l_defaults_do_not_warn_about_themselves():
    # A milestone at the run's end marks the end (the chapter's [15, 30] over 30 epochs), as T = epochs does.
    for scheduler in ("multifactor", "sequence", "step", "cosine"):
        assert horizon_warning(preflight([f"scheduler={scheduler}"])[0]) is None, scheduler


def test_a_warmup_longer_than_the_run_warns():
    cfg = preflight(["scheduler=constant_warmup", "scheduler.warmup_steps=6", "epochs=4"])[0]
    assert "warmup_steps=6 is longer than the run's 4 epochs (unit=epoch), so the rate never reaches base_lr" in \
        horizon_warning(cfg)


@pytest.mark.parametrize("optimizer, rate, warns", [
    ("adam", 0.3, True), ("adam", 0.03, False), ("adam", 0.001, False), ("adamw", 0.1, True),
    ("rmsprop", 0.05, True), ("adagrad", 0.1, False), ("adagrad", 0.5, True), ("sgd", 0.3, False),
])
def test_an_adaptive_optimizer_far_above_its_usual_rate_warns(optimizer, rate, warns):
    cfg = preflight([f"optimizer={optimizer}", "scheduler=constant", f"scheduler.base_lr={rate}"])[0]
    warning = rate_warning(cfg)
    assert (warning is not None) == warns
    if optimizer == "adam" and warns:
        assert warning == ("optimizer=adam at scheduler.base_lr=0.3 is 30x the top of its usual range (0.0001 to "
                           "0.01); an adaptive optimizer's step is about the rate itself, so this rate rarely "
                           "learns: set scheduler.base_lr=0.001 (and scheduler.final_lr below it)")


# --- one real sweep ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_sweep_over_optimizer_and_rate_prints_distinct_lines_and_status_rows(tmp_path):
    out = run_cli("-m", "optimizer=sgd,adam", "scheduler=constant", "scheduler.base_lr=0.001,0.01", *TINY,
                  f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    starting = [line for line in out.stdout.splitlines() if " starting (" in line]
    assert [re.sub(r" starting .*", "", line) for line in starting] == [
        "harness: [1/4] torch constant (optimizer=sgd, lr=0.001) seed=0",
        "harness: [2/4] torch constant (optimizer=sgd, lr=0.01) seed=0",
        "harness: [3/4] torch constant (optimizer=adam, lr=0.001) seed=0",
        "harness: [4/4] torch constant (optimizer=adam, lr=0.01) seed=0"]
    done = [line for line in out.stdout.splitlines() if line.startswith("harness: complete:")]
    assert len(done) == 4 and len({line.split(", 1 epoch")[0] for line in done}) == 4
    assert "harness: sweep done: 4 runs: 4 complete" in out.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sweep-")], "the ledger is removed"
    status = run_cli("status", str(tmp_path))
    rows = status.stdout.splitlines()[2:6]
    assert len(set(rows)) == 4 and len({re.sub(r"\s+\S+\s+\d{4}-.*", "", row) for row in rows}) == 4, status.stdout
    assert {row.split()[3] + " " + row.split()[4] for row in rows} == {
        "adam lr=0.001", "adam lr=0.01", "sgd lr=0.001", "sgd lr=0.01"}
