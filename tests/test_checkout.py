"""Subprocesses test this checkout, whatever the virtual environment's editable install points to.

An editable install (``pip install -e .``) maps ``harness`` to the folder it was installed from,
with a finder that Python asks after ``sys.path``. A test that runs ``python -m harness`` from a
temporary folder finds no ``harness`` on its path there, so it imported that folder's code: with
two worktrees sharing one .venv, the second one's tests ran the first one's harness. tests/conftest.py
puts this checkout first on PYTHONPATH for every subprocess; these tests prove it on a decoy.
"""

from __future__ import annotations

import importlib
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, run_cli

WHERE = "import harness, sys; print(harness.__file__)"


def _editable_finder() -> str | None:
    """The module name of this environment's editable-install finder (setuptools' PEP 660), if any."""
    for folder in site.getsitepackages():
        for path in Path(folder).glob("__editable___lr_harness*_finder.py"):
            return path.stem
    return None


def _decoy(tmp_path: Path) -> Path:
    """Another checkout's ``harness``: one that says so when imported."""
    pkg = tmp_path / "other-worktree" / "harness"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    return pkg


def _import_under_decoy(tmp_path: Path, env: dict) -> str:
    """Where ``import harness`` comes from in a fresh interpreter started in ``tmp_path`` whose
    editable install points at the decoy, as a second worktree's would."""
    finder = _editable_finder()
    code = (f"import {finder} as f; f.MAPPING['harness'] = {str(_decoy(tmp_path))!r}\n"
            "import harness; print(harness.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(_editable_finder() is None, reason="no setuptools editable install in this environment")
def test_a_subprocess_in_a_temporary_folder_imports_this_checkout(tmp_path):
    without = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the hazard is real: with no PYTHONPATH the editable install's folder wins
    assert Path(_import_under_decoy(tmp_path, without)).parent == tmp_path / "other-worktree" / "harness"
    # and conftest's environment, which every subprocess inherits, puts this checkout first
    assert Path(_import_under_decoy(tmp_path, dict(os.environ))) == PROJECT_ROOT / "harness" / "__init__.py"


def test_the_cli_from_a_temporary_folder_runs_this_checkout(tmp_path):
    """run_cli from elsewhere, with a PYTHONPATH of the test's own (which would have replaced the
    checkout's), still runs this checkout: the decoy has no cli and would fail."""
    decoy = _decoy(tmp_path).parent
    proc = run_cli("plan", "scheduler=constant", "epochs=1", cwd=tmp_path, env={"PYTHONPATH": str(decoy)})
    assert proc.returncode == 0, proc.stderr
    assert "constant" in proc.stdout
    here = subprocess.run([sys.executable, "-c", WHERE], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(here.stdout.strip()) == PROJECT_ROOT / "harness" / "__init__.py"
    assert importlib.import_module("harness").__file__ == str(PROJECT_ROOT / "harness" / "__init__.py")
