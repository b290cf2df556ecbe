"""The docs' snippets that read results are tests: each runs as written, in a folder whose
``results/`` is (1) the committed tree, (2) a fresh folder holding every kind of file the harness
writes there, (3) a fresh folder after one real run, and must read rows of every framework there.

A file in ``results/`` that is not a run's parquet and does not start with ``_`` or ``.`` breaks
``pd.read_parquet("results")`` (issue 33: the guideline study's README did); (1) catches it on
the committed tree, ``test_every_committed_file_beside_the_runs_is_skipped_by_parquet_readers``
names the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import EPOCHS_FILE, FAILED_FILE, set_aside, write_config
from tests import synthetic_results
from tests.conftest import PROJECT_ROOT, run_cli

# README.md, the results folder's own README and any doc that grows a snippet.
DOCS = ["README.md", "results/_README.md", *sorted(f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md"))]


def reading_snippets(doc: str) -> list[str]:
    """The ```python blocks of ``doc`` that read the results folder."""
    blocks = re.findall(r"```python\n(.*?)```", (PROJECT_ROOT / doc).read_text(), flags=re.S)
    return [code for code in blocks if re.search(r"""["']results[/"']""", code)]


SNIPPETS = [(doc, i) for doc in DOCS for i in range(len(reading_snippets(doc)))]

# Runs one snippet with `print` recorded, then says what each printed object holds: its number of
# rows and the frameworks in a `framework` column or index level (pandas, polars or DuckDB).
DRIVER = r"""
import json, sys
shown = []
namespace = {"__name__": "__main__", "print": lambda *args, **kwargs: shown.extend(args)}
exec(compile(sys.stdin.read(), "<snippet>", "exec"), namespace)

def table(obj):
    import pandas as pd
    if hasattr(obj, "to_pandas"):      # polars
        obj = obj.to_pandas()
    elif hasattr(obj, "df") and callable(obj.df):  # a DuckDB relation
        obj = obj.df()
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    return obj if isinstance(obj, pd.DataFrame) else None

out = []
for obj in shown:
    frame = table(obj)
    if frame is None:
        out.append({"type": type(obj).__name__})
        continue
    names = list(frame.columns) + list(frame.index.names)
    frameworks = (sorted(set(frame["framework"])) if "framework" in frame.columns else
                  sorted(set(frame.index.get_level_values("framework"))) if "framework" in frame.index.names else None)
    out.append({"type": type(obj).__name__, "rows": len(frame), "frameworks": frameworks})
print(json.dumps(out))
"""


def run_snippet(code: str, home: Path) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    out = subprocess.run([sys.executable, "-c", DRIVER], input=code, cwd=home, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"snippet failed in {home}:\n{code}\n{out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_reads_every_framework(code: str, home: Path, frameworks: set[str]) -> None:
    shown = run_snippet(code, home)
    tables = [item for item in shown if "rows" in item]
    assert tables, f"the snippet prints no table: {shown}"
    for item in tables:
        assert item["rows"] > 0, f"the snippet printed an empty {item['type']}:\n{code}"
        if item["frameworks"] is not None:
            assert set(item["frameworks"]) == frameworks, (item, code)


def committed_files() -> list[str]:
    """The files under results/ that git tracks (staged ones included), relative to the root."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "results"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the committed tree is unknown")
    return [name for name in out.stdout.split("\0") if name and (PROJECT_ROOT / name).is_file()]


@pytest.fixture(scope="module")
def committed_tree(tmp_path_factory) -> Path:
    """A folder whose results/ is exactly what a fresh clone has (untracked runs left out)."""
    home = tmp_path_factory.mktemp("clone")
    for name in committed_files():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, home / name)
    return home


@pytest.fixture(scope="module")
def fresh_folder(tmp_path_factory) -> Path:
    """A fresh results/ written by the harness's own writers, with every side file it puts beside
    the runs: configs, a lock, a run set aside, a failure note, a range test and a report."""
    home = tmp_path_factory.mktemp("fresh")
    results = synthetic_results.build(home / "results")
    runs = sorted(p.parent for p in results.glob(f"*/{EPOCHS_FILE}"))
    for run in runs:
        write_config(run, "seed: 0\n")
    (results / f".{runs[0].name}.lock").touch()
    set_aside(runs[1], "corrupt")  # its parquet renamed epochs.parquet.corrupt under _corrupt/
    failed = results / "torch-cosine-s9-0000000000000000"
    failed.mkdir()
    (failed / FAILED_FILE).write_text("RuntimeError: boom\n")
    (results / "_find_lr" / "torch-sgd").mkdir(parents=True)
    shutil.copy(runs[2] / EPOCHS_FILE, results / "_find_lr" / "torch-sgd" / "range_test.parquet")
    (results / "_report").mkdir()
    (results / "_report" / "report.md").write_text("# report\n")
    return home


def test_the_docs_have_the_reading_snippets():
    assert [doc for doc, _ in SNIPPETS].count("README.md") == 3  # pandas, DuckDB, polars
    assert [doc for doc, _ in SNIPPETS].count("results/_README.md") == 2


@pytest.mark.parametrize("doc, index", SNIPPETS)
def test_each_reading_snippet_reads_the_committed_tree(doc, index, committed_tree):
    assert_reads_every_framework(reading_snippets(doc)[index], committed_tree, {"torch", "tf", "mxnet"})


@pytest.mark.parametrize("doc, index", SNIPPETS)
def test_each_reading_snippet_reads_a_fresh_folder_with_every_side_file(doc, index, fresh_folder):
    assert_reads_every_framework(reading_snippets(doc)[index], fresh_folder, {"torch", "tf"})


@pytest.mark.slow
def test_each_reading_snippet_reads_a_fresh_folder_after_a_real_run(tmp_path):
    out = run_cli("epochs=1", "data.train_size=512", "data.test_size=500", "threads=1", "progress=false",
                  "scheduler.total_steps=null", f"results_dir={tmp_path / 'results'}")
    assert out.returncode == 0, out.stderr
    for doc, index in SNIPPETS:
        assert_reads_every_framework(reading_snippets(doc)[index], tmp_path, {"torch"})


def test_every_committed_file_beside_the_runs_is_skipped_by_parquet_readers():
    """pyarrow's folder reader (pandas' read_parquet) skips names starting with _ or .; any other
    file under results/ must be a run's parquet, or the README's pandas line fails on a fresh clone."""
    stray = [name for name in committed_files()
             if Path(name).name != EPOCHS_FILE and not any(part[0] in "_." for part in Path(name).parts[1:])]
    assert stray == [], f"rename these with a leading _ so parquet readers skip them: {stray}"
