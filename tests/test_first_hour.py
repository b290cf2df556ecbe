"""What a new user meets first: the README's snippets, Ctrl-C, did-you-mean, plan, small things."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import preflight
from harness.errors import HarnessError
from harness.results import EPOCHS_FILE, read_epochs, upgrade
from tests.conftest import INSTALLED_FRAMEWORKS, PROJECT_ROOT, run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

STUDY = PROJECT_ROOT / "results" / "d2l_study"
DOCS_WITH_SNIPPETS = ("README.md", "results/_README.md")


def python_snippets(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (PROJECT_ROOT / doc).read_text(), flags=re.S)


@pytest.fixture(scope="module")
def results_after_make_run(tmp_path_factory):
    """A fresh clone's results/ after `make run`: the committed study (schema version 1) and one
    run written by this version (here: a study run upgraded to the current schema)."""
    home = tmp_path_factory.mktemp("clone")
    shutil.copytree(STUDY, home / "results" / "d2l_study")
    shutil.copy(PROJECT_ROOT / "results" / "_README.md", home / "results" / "_README.md")
    source = next(STUDY.glob("torch-cosine-s0-*"))
    table = upgrade(pq.read_table(source / EPOCHS_FILE), source)
    rows = table.to_pylist()
    for row in rows:
        row.update(variant="cosine(lr=0.3, final=0.01, T=20)", schema_version=2)
    new = home / "results" / "torch-cosine-s0-0000000000000000"
    new.mkdir()
    pq.write_table(table.from_pylist(rows, schema=table.schema), new / EPOCHS_FILE)
    return home


@pytest.mark.parametrize("doc, index", [(doc, i) for doc in DOCS_WITH_SNIPPETS for i in range(len(python_snippets(doc)))])
def test_every_python_snippet_in_the_docs_runs_as_written(doc, index, results_after_make_run):
    code = python_snippets(doc)[index]
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=results_after_make_run, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{doc} snippet {index}:\n{code}\n{out.stderr}"
    assert out.stdout.strip(), "a snippet prints what it read"


def test_the_docs_have_the_snippets_the_test_runs():
    assert len(python_snippets("README.md")) >= 3 and len(python_snippets("results/_README.md")) >= 2


@pytest.mark.parametrize("args, hint", [
    (["scheduler.base_lrr=0.1"], "did you mean 'scheduler.base_lr'?"),
    (["train_size=2048"], "did you mean 'data.train_size'?"),
    (["base_lr=0.1"], "did you mean 'scheduler.base_lr'?"),
    (["lr=0.1"], "did you mean 'scheduler.base_lr'?"),
    (["experiment=quick"], "did you mean 'experiments'?"),
    (["scheduler=cosin"], "scheduler='cosin' is unknown (did you mean 'cosine'?)"),
    (["epochs=abc", "data.train_size=512", "seed=3"], "invalid setting epochs=abc: Value 'abc'"),
    (["-m", "epochs=1,abc", "data.train_size=512", "epochs=1"], "epochs is given twice (epochs=1,abc and epochs=1)"),
])
def test_mistakes_get_a_suggestion_that_names_the_right_thing(args, hint):
    with pytest.raises(HarnessError) as info:
        preflight(args)
    assert hint in str(info.value) and "data.train_size=512" not in str(info.value)


def test_an_unknown_command_says_so_and_suggests_one():
    out = run_cli("reprot")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("harness: error: unknown command 'reprot' (did you mean 'report'?)")


def test_version_is_the_harness_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("harness (lr-harness) 0.")


def test_plan_lists_runs_and_what_is_finished_without_training(tmp_path):
    out = run_cli("plan", "-m", "experiments=d2l_tabs", f"results_dir={STUDY}", "seed=0,1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "harness: plan: 30 jobs, 30 runs: 15 complete, 15 new; nothing was trained"
    assert sum(" complete " in line for line in lines) == 15


def test_a_tilde_path_is_the_home_folder(tmp_path):
    out = run_cli("plan", "results_dir=~/somewhere", env={"HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert f"{tmp_path}/somewhere/torch-cosine-s0-" in out.stdout
    assert not (tmp_path / "somewhere").exists()


def test_a_wrong_harness_data_is_an_error_not_a_fallback(tmp_path):
    out = run_cli("epochs=1", "data.train_size=512", f"results_dir={tmp_path}/r", env={"HARNESS_DATA": str(tmp_path / "none")})
    assert out.returncode == 2 and "HARNESS_DATA=" in out.stderr and "holds neither the" in out.stderr
    assert not (tmp_path / "r").exists()


def test_ctrl_c_says_where_it_stopped_marks_the_rows_and_the_same_command_resumes(tmp_path):
    args = ["epochs=3", "data.train_size=2048", "data.test_size=500", "threads=1", "progress=false",
            f"results_dir={tmp_path}"]
    # Ctrl-C as a terminal delivers it, even where this suite runs with SIGINT ignored (`make test &`).
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=PROJECT_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and not list(tmp_path.glob(f"*/{EPOCHS_FILE}")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    (folder,) = tmp_path.glob("torch-cosine-s0-*")
    done = len(read_epochs(folder))
    assert stderr.strip().splitlines()[-1] == (
        f"harness: interrupted after {done} of 3 epochs; results so far in {folder}/; run the same command to resume"
        if done else f"harness: interrupted before its first epoch ended (0 of 3 epochs done); results so far in "
                     f"{folder}/; run the same command to resume")
    assert "Traceback" not in stderr and {row["status"] for row in read_epochs(folder)} == {"interrupted"}
    if done < 3:
        # As if the code had changed since: the resume says so, and each row keeps its commit.
        table = pq.read_table(folder / EPOCHS_FILE)
        table = table.set_column(table.schema.get_field_index("git_sha"), "git_sha",
                                 pa.array(["0123456789ab"] * len(table)))
        pq.write_table(table, folder / EPOCHS_FILE)
        out = run_cli(*args)
        assert out.returncode == 0, out.stderr
        assert f"({done} of them done before a resume)" in out.stdout
        assert "harness: warning: resuming" in out.stderr and "came from 0123456789ab" in out.stderr
        rows = read_epochs(folder)
        assert {row["status"] for row in rows} == {"complete"}
        assert rows[0]["git_sha"] == "0123456789ab" and rows[-1]["git_sha"] != "0123456789ab"


@pytest.mark.skipif("mxnet" not in INSTALLED_FRAMEWORKS, reason="MXNet is not installed")
def test_the_unit_column_says_what_a_d2l_tab_did(tmp_path):
    """MXNet's d2l tab steps its schedule every update, so its rows say unit=step."""
    out = run_cli("protocol=d2l", "framework=mxnet", "epochs=1", "data.train_size=512", "data.test_size=500",
                  "threads=1", "progress=false", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    (row,) = read_epochs(next(tmp_path.glob("mxnet-cosine-s0-*")))
    assert row["unit"] == "step" and len(set(row["step_lrs"])) > 1


def test_a_sweep_leaves_no_empty_folder_in_tmp(tmp_path):
    (tmp_path / "tmp").mkdir()
    copy = tmp_path / "copy"
    copy.mkdir()
    for folder in STUDY.glob("torch-constant-s0-*"):
        shutil.copytree(folder, copy / folder.name)
    out = run_cli("-m", "experiments=d2l_tabs", "framework=torch", "scheduler=constant", f"results_dir={copy}",
                  env={"TMPDIR": str(tmp_path / "tmp")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "harness: sweep done: 1 run: 1 skipped"
    assert list((tmp_path / "tmp").rglob("*")) == []


def test_ctrl_c_between_an_epochs_rows_and_its_checkpoint_waits_for_both():
    """The race behind 'interrupted after 2 epochs' resuming after 1: a Ctrl-C inside the write is held."""
    import os

    from harness.runner import _ctrl_c_held

    written = []
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever started pytest
    try:
        with pytest.raises(KeyboardInterrupt):
            with _ctrl_c_held():
                os.kill(os.getpid(), signal.SIGINT)  # arrives between the two writes
                written.append("rows")
                written.append("checkpoint")
        assert written == ["rows", "checkpoint"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the usual Ctrl-C again
        # Where Ctrl-C is ignored (a `nohup ... &` job), holding it must not turn it into an interrupt.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            written.append("rows again")
        assert written[-1] == "rows again" and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
