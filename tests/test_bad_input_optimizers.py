"""Proof 5 of the optimizers issue: bad optimizer input through the real CLI is one line naming the
value and the fix, exit 2, and nothing written. The pattern of tests/test_bad_input.py, with every
case run by ``harness.cli.main`` in one fresh interpreter (one start-up instead of one per case)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT
from tests.test_bad_input import BASE, snapshot

CASES = {
    "unknown optimizer": ({"optimizer": "adamm"}, "optimizer='adamm' is unknown (did you mean 'adam'?); choose one of: adagrad, adam, adamw, rmsprop, schedule_free_adamw, sgd"),
    "beta1 of 1": ({"optimizer": "adam", "optimizer.beta1": "1.0"}, "optimizer.beta1=1.0 must be in [0, 1)"),
    "negative beta2": ({"optimizer": "adam", "optimizer.beta2": "-0.1"}, "optimizer.beta2=-0.1 must be in [0, 1)"),
    "momentum of 1": ({"optimizer.momentum": "1"}, "optimizer.momentum=1.0 must be in [0, 1)"),
    "negative momentum": ({"optimizer": "rmsprop", "optimizer.momentum": "-0.5"}, "optimizer.momentum=-0.5 must be in [0, 1)"),
    "negative eps": ({"optimizer": "adam", "optimizer.eps": "-1e-8"}, "optimizer.eps=-1e-08 must be a finite number >= 0"),
    "zero eps": ({"optimizer": "adagrad", "optimizer.eps": "0"}, "optimizer.eps=0 divides 0 by 0 for a zero gradient"),
    "negative weight decay": ({"optimizer.weight_decay": "-0.1"}, "optimizer.weight_decay=-0.1 must be a finite number >= 0"),
    "nesterov without momentum": ({"optimizer.nesterov": "true"}, "optimizer.nesterov=true needs optimizer.momentum > 0"),
    "unknown layer in lr_mult": (
        {"optimizer.lr_mult": "{conv9: 0.1}"},
        "optimizer.lr_mult names unknown layer 'conv9'; known layers of model 'lenet': conv, dense, conv1, conv2, dense1, dense2, dense3"),
    "negative multiplier": ({"optimizer.lr_mult": "{conv: -1}"}, "optimizer.lr_mult.conv=-1 must be a finite multiplier >= 0"),
    "lr_mult not a mapping": ({"optimizer.lr_mult": "0.1"}, "optimizer.lr_mult=0.1 must map layers to multipliers"),
    "schedule-free in MXNet": ({"framework": "mxnet", "optimizer": "schedule_free_adamw"},
                               "optimizer=schedule_free_adamw is not available with framework=mxnet: MXNet has no "
                               "maintained implementation of it; use framework=torch or framework=tf"),
    "schedule-free without an average": ({"optimizer": "schedule_free_adamw", "optimizer.beta1": "0"},
                                         "optimizer.beta1=0 leaves schedule_free_adamw no average to evaluate at"),
    "schedule-free with cycled momentum": (
        {"optimizer": "schedule_free_adamw", "scheduler": "onecycle", "scheduler.cycle_momentum": "true"},
        "optimizer=schedule_free_adamw's beta1 is its averaging, not a momentum to cycle"),
    "a key the rule does not read": ({"optimizer.beta1": "0.5"}, "optimizer.beta1=0.5 has no effect on optimizer=sgd"),
}

RUN_ALL = """
import contextlib, io, json, sys
from harness.cli import main
out = {}
for case, argv in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(argv)
            rc = 0
        except SystemExit as exc:
            rc = exc.code
    out[case] = [rc, err.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case's exit code and stderr, and whether the results directory stayed as it was."""
    results = tmp_path_factory.mktemp("results")
    (results / "earlier-run.txt").write_text("stands for what a study left here\n")
    before = snapshot(results)
    argv = {case: [f"{k}={v}" for k, v in {**BASE, "results_dir": str(results), **overrides}.items()]
            for case, (overrides, _) in CASES.items()}
    proc = subprocess.run([sys.executable, "-c", RUN_ALL, json.dumps(argv)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), snapshot(results) == before


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_optimizer_input_is_one_line_exit_2_and_nothing_written(case, outcomes):
    results, unchanged = outcomes
    rc, stderr = results[case]
    assert rc == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), stderr
    assert CASES[case][1] in lines[0]
    assert "Traceback" not in stderr
    assert unchanged
