"""TensorFlow's import chatter stays off the console (issue 33): absl's "All log messages before
absl::InitializeLog()" and oneDNN's notice, which TF_CPP_MIN_LOG_LEVEL does not filter in
TensorFlow 2.19+, printed twice on every TensorFlow run. Anything else on stderr is kept, and
oneDNN stays as adapters/tf_adapter.py sets it (only the log is silenced)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import INSTALLED_FRAMEWORKS, PROJECT_ROOT, run_cli

# Imports TensorFlow (seconds) or trains with it.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif("tf" not in INSTALLED_FRAMEWORKS, reason="TensorFlow is not installed")]

CHATTER = ("absl::InitializeLog", "oneDNN custom operations")


def test_a_tensorflow_run_prints_no_import_chatter(tmp_path):
    out = run_cli("framework=tf", "epochs=1", "data.train_size=512", "data.test_size=500", "threads=1",
                  "progress=false", "scheduler.total_steps=null", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert not [line for line in out.stderr.splitlines() if any(c in line for c in CHATTER)], out.stderr
    assert out.stdout.strip().startswith("harness: complete: tf cosine")


def test_only_the_chatter_is_dropped_and_onednn_stays_on():
    code = (
        "import os, sys\n"
        "from adapters.tf_adapter import _without_import_chatter\n"
        "from tensorflow.python.util import _pywrap_util_port\n"
        "with _without_import_chatter():\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on. You may see ...\\n')\n"
        "    os.write(2, b'E0000 something else a user must see\\n')\n"
        "    print('from python', file=sys.stderr)\n"
        "print(_pywrap_util_port.IsMklEnabled())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # the adapter's own default decides
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "E0000 something else a user must see\nfrom python\n"
    assert out.stdout.strip() == "True"
