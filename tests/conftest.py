"""Shared fixtures. The real Fashion-MNIST is required: `make test` installs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import load_fashion_mnist

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fashion_mnist():
    """The full real dataset, decoded once per test session (float32 NCHW, int64 labels)."""
    return load_fashion_mnist(download=False)


@pytest.fixture(scope="session")
def small_batch(fashion_mnist):
    """256 real training images and labels, fixed."""
    return fashion_mnist.train_x[:256], fashion_mnist.train_y[:256]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` in a subprocess, as a user would (``env`` adds variables)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd or PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
