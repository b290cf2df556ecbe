"""Shared fixtures. The real Fashion-MNIST is required: `make test` installs it.

Every subprocess a test starts (``python -m harness ...``, ``python -c ...``, from any folder)
imports this checkout's ``harness`` and ``adapters``: the checkout's root is put first on
PYTHONPATH below, ahead of whatever checkout the virtual environment's editable install points to
(a second worktree sharing one .venv would otherwise test the first one's code from a temporary
folder). tests/test_checkout.py proves it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _checkout_first(pythonpath: str | None) -> str:
    """PYTHONPATH with this checkout's root first (once), the rest as it was."""
    rest = [p for p in (pythonpath or "").split(os.pathsep) if p and Path(p).resolve() != PROJECT_ROOT]
    return os.pathsep.join([str(PROJECT_ROOT), *rest])


# Before anything is imported or started: this process (pytest puts the rootdir on sys.path too)
# and every child, which inherits os.environ, whatever env a test adds to it.
os.environ["PYTHONPATH"] = _checkout_first(os.environ.get("PYTHONPATH"))
if str(PROJECT_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(PROJECT_ROOT))

from adapters import REGISTRY  # noqa: E402  (after the path is set: this checkout's)
from harness.data import load_fashion_mnist  # noqa: E402

# `make test` runs the tests in two processes (pytest-xdist). The sweeps that tests start put
# Hydra's sweep folder under $TMPDIR and remove it when empty: each test process gets a TMPDIR of
# its own, so that one's clean-up never meets the other's sweep.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _own_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"harness-tests-{os.getpid()}-{os.environ['PYTEST_XDIST_WORKER']}"
    _own_tmp.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(_own_tmp)
    import atexit
    import shutil

    atexit.register(shutil.rmtree, _own_tmp, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def compose_cache_apart(tmp_path_factory):
    """plot-schedule keeps the configs Hydra composed in the user's cache (harness/compose_cache.py);
    the tests, and the commands they start, keep theirs in a folder of their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_COMPOSE_CACHE", str(tmp_path_factory.mktemp("composed")))
        yield


@pytest.fixture(scope="session")
def fashion_mnist():
    """The full real dataset, decoded once per test session (float32 NCHW, int64 labels)."""
    return load_fashion_mnist(download=False)


@pytest.fixture(scope="session")
def small_batch(fashion_mnist):
    """256 real training images and labels, fixed."""
    return fashion_mnist.train_x[:256], fashion_mnist.train_y[:256]


def framework_installed(framework: str) -> bool:
    """Whether the package behind ``framework`` (harness.frameworks) is importable."""
    return importlib.util.find_spec(REGISTRY[framework].package) is not None


INSTALLED_FRAMEWORKS = [framework for framework in REGISTRY if framework_installed(framework)]
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "mxnet", "jax")


def main_in_fresh_python(argv: list[str], timeout: float = 180, before: str = "") -> tuple[subprocess.CompletedProcess, object, list[str]]:
    """Call ``harness.cli.main(argv)`` in a fresh interpreter (after the code ``before``); return
    the process, main's exit code and the ML framework modules the call imported."""
    code = (
        before
        + "import sys, json\n"
        "from harness.cli import main\n"
        "rc = None\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        f"print(json.dumps({{'rc': rc, 'frameworks': sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules)}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return proc, result["rc"], result["frameworks"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` in a subprocess, as a user would (``env`` adds variables; a
    PYTHONPATH in it comes after this checkout's root)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    env["PYTHONPATH"] = _checkout_first(env.get("PYTHONPATH"))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd or PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def alone_needs(option: str) -> list[str]:
    """What an option of a config group needs to compose and validate on its own: plateau monitors a
    validation split; a problem's model trains on its own dataset, and a dataset of another shape needs
    its problem's model (both read from the presets' "# Problem:" lines, harness.cli.problems)."""
    from harness.cli import problems

    if option == "plateau":
        return ["data.val_size=10000"]
    pairs = {}
    for model, (command, _) in problems().items():
        data = next((w.split("=", 1)[1] for w in command.split() if w.startswith("data=")), None)
        if data and data != "fashion_mnist":
            pairs.setdefault(model, [f"data={data}"])
            pairs.setdefault(data, [f"model={model}"])
    return pairs.get(option, [])
