"""Proofs 2 and 4 of the optimizers issue, and the spec's own rules.

Proof 2: each adapter's update equals ``harness.optimizers.reference_step`` (the formula of
docs/optimizers.md in float64 numpy), update by update, given that framework's own gradients,
with hyperparameters chosen so that every term counts (eps comparable to sqrt(v), beta2 = 0.9
so the bias correction matters, a non-zero AdaGrad start, weight decay 0.1, a momentum/beta1
that changes every update). Proof 4: kill-and-resume with Adam gives the same parquet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.model import init_weights
from harness.optimizers import OptimizerSpec, param_multipliers, reference_step, spec_from_config
from tests.conftest import INSTALLED_FRAMEWORKS, run_cli
from tests.test_optimizer_parity import smooth_lenet

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

SHARP = dict(eps=1e-3, weight_decay=0.1)
RULES = {
    "sgd_momentum": OptimizerSpec("sgd", momentum=0.9, weight_decay=0.1),
    "sgd_nesterov": OptimizerSpec("sgd", momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam": OptimizerSpec("adam", beta2=0.9, **SHARP),
    "adamw": OptimizerSpec("adamw", beta2=0.9, **SHARP),
    "adagrad": OptimizerSpec("adagrad", initial_accumulator_value=0.1, **SHARP),
    "rmsprop": OptimizerSpec("rmsprop", alpha=0.9, **SHARP),
    "rmsprop_centered_momentum": OptimizerSpec("rmsprop", alpha=0.9, centered=True, momentum=0.9, **SHARP),
}
# The rules whose state also goes through get_state / set_state here: between them every slot
# (momentum, exp_avg, exp_avg_sq, sum, square_avg, grad_avg) and the step count.
RESUMED = ("sgd_momentum", "adam", "adagrad", "rmsprop_centered_momentum")
LRS = {"sgd": [0.05, 0.02, 0.01], "other": [0.01, 0.005, 0.002]}
MOMENTA = [0.9, 0.8, 0.95]
BATCH = 16


@pytest.fixture(scope="module")
def data():
    from harness.data import load_fashion_mnist

    return load_fashion_mnist(download=False, train_size=3 * BATCH, test_size=500)


def fresh(framework, optimizer, data, spec=None):
    from adapters import load_adapter

    spec = spec or smooth_lenet()
    adapter = load_adapter(framework)(spec, optimizer, "cpu", 0)
    adapter.set_weights(init_weights(spec, 0))
    adapter.set_data(data.train_x, data.train_y, data.test_x, data.test_y)
    return adapter


def expected_keys(spec, optimizer):
    names = list(spec.param_shapes())
    keys = set(names) | {f"{slot}/{n}" for slot in optimizer.slots() for n in names}
    return keys | ({"step"} if optimizer.counts_steps else set())


@pytest.mark.parametrize("framework", INSTALLED_FRAMEWORKS)
@pytest.mark.parametrize("rule", RULES)
def test_each_update_is_the_documented_formula_and_the_state_resumes_exactly(framework, rule, data):
    optimizer = RULES[rule]
    lrs = LRS["sgd" if optimizer.name == "sgd" else "other"]
    adapter = fresh(framework, optimizer, data)
    reference_state: dict = {}
    momenta = MOMENTA if optimizer.momentum_name else [None] * 3
    for k in range(3):
        batch = np.arange(k * BATCH, (k + 1) * BATCH)
        before = adapter.get_weights()
        _, grads = adapter.loss_and_gradients(data.train_x[batch], data.train_y[batch])
        expected, reference_state = reference_step(optimizer, before, grads, reference_state, lrs[k], momenta[k])
        if k == 2 and rule in RESUMED:  # the last update also runs in an adapter restored from the state
            state = adapter.get_state()
            resumed = fresh(framework, optimizer, data)
            resumed.set_state(state)
            resumed.train_epoch(batch, BATCH, [lrs[k]], momenta=momenta[k:k + 1] if momenta[k] else None)
        adapter.train_epoch(batch, BATCH, [lrs[k]], momenta=momenta[k:k + 1] if momenta[k] else None)
        after = adapter.get_weights()
        for name in before:
            step = np.abs(expected[name] - before[name]).max()
            assert np.abs(after[name] - expected[name]).max() <= 1e-4 * step, (k, name)
    final = adapter.get_state()
    assert set(final) == expected_keys(smooth_lenet(), optimizer)  # the same keys in every adapter
    if rule in RESUMED:
        for key, value in resumed.get_state().items():
            assert np.array_equal(value, final[key]), key  # bit for bit, buffers and step count included
    for key, value in reference_state.items():  # the buffers too, per tensor
        assert np.abs(final[key] - value).max() <= 1e-4 * max(np.abs(value).max(), 1e-30), key


def test_sgd_momentum_buffer_excludes_the_rate():
    """Two updates at rates 0.1 then 0.01: w = w0 - 0.1 g0 - 0.01 (mu g0 + g1). Keras's and MXNet's
    native classes would give w0 - 0.1 g0 - (mu 0.1 g0 + 0.01 g1): another algorithm whenever the rate moves."""
    spec = OptimizerSpec("sgd", momentum=0.9)
    w, state = {"w": np.array([1.0])}, {}
    w, state = reference_step(spec, w, {"w": np.array([2.0])}, state, 0.1)
    w, state = reference_step(spec, w, {"w": np.array([3.0])}, state, 0.01)
    assert w["w"][0] == pytest.approx(1.0 - 0.1 * 2.0 - 0.01 * (0.9 * 2.0 + 3.0))


def test_adam_epsilon_sits_on_the_bias_corrected_root():
    """First step: m_hat = g, v_hat = g^2, so w -= lr g / (|g| + eps) exactly (PyTorch's form; the
    "epsilon hat" form of Keras and MXNet gives lr g / (|g| + eps / sqrt(1 - beta2)) instead)."""
    spec = OptimizerSpec("adam", eps=0.5)
    w, state = reference_step(spec, {"w": np.array([0.0])}, {"w": np.array([1.5])}, {}, 0.1)
    assert w["w"][0] == pytest.approx(-0.1 * 1.5 / (1.5 + 0.5))
    assert int(state["step"]) == 1


def test_rmsprop_and_adagrad_put_epsilon_outside_the_root():
    w, _ = reference_step(OptimizerSpec("rmsprop", alpha=0.75, eps=0.5), {"w": np.array([0.0])}, {"w": np.array([2.0])}, {}, 1.0)
    assert w["w"][0] == pytest.approx(-2.0 / (np.sqrt(0.25 * 4.0) + 0.5))
    w, _ = reference_step(OptimizerSpec("adagrad", eps=0.5, initial_accumulator_value=5.0), {"w": np.array([0.0])},
                          {"w": np.array([2.0])}, {}, 1.0)
    assert w["w"][0] == pytest.approx(-2.0 / (3.0 + 0.5))


def test_adamw_decays_the_weight_by_rate_times_weight_decay_and_adam_adds_it_to_the_gradient():
    zero_grad = {"w": np.array([0.0])}
    w, _ = reference_step(OptimizerSpec("adamw", weight_decay=0.5), {"w": np.array([2.0])}, zero_grad, {}, 0.1)
    assert w["w"][0] == pytest.approx(2.0 * (1 - 0.1 * 0.5))
    w, _ = reference_step(OptimizerSpec("adam", weight_decay=0.5, eps=1e-12), {"w": np.array([2.0])}, zero_grad, {}, 0.1)
    assert w["w"][0] == pytest.approx(2.0 - 0.1)  # the decay's gradient, normalised: a full step


def test_lr_mult_layer_names_types_and_the_error_listing_them():
    spec = smooth_lenet()
    assert param_multipliers({"dense": 2.0, "dense2": 0.5}, spec) == {
        "5.weight": 2.0, "5.bias": 2.0, "6.weight": 0.5, "6.bias": 0.5, "7.weight": 2.0, "7.bias": 2.0}
    with pytest.raises(HarnessError, match=r"unknown layer 'conv3'; known layers of model 'lenet_sigmoid_avg': "
                                           r"conv, dense, conv1, conv2, dense1, dense2, dense3"):
        param_multipliers({"conv3": 0.1}, spec)


def test_spec_from_config_keeps_defaults_and_rejects_keys_the_rule_does_not_read():
    from harness.schema import OptimizerConfig

    plain = dataclasses.asdict(OptimizerConfig())
    assert spec_from_config(plain, smooth_lenet()) == OptimizerSpec("sgd")
    with pytest.raises(HarnessError, match=r"optimizer.beta1=0.5 has no effect on optimizer=sgd"):
        spec_from_config({**plain, "beta1": 0.5}, smooth_lenet())
    adam = spec_from_config({**plain, "name": "adam", "lr_mult": {"conv1": 0.1}}, smooth_lenet())
    assert adam.momentum_name == "beta1" and adam.multiplier("0.weight") == 0.1 and adam.multiplier("2.weight") == 1.0


def test_momenta_for_a_rule_without_momentum_is_an_error(data):
    adapter = fresh("torch", OptimizerSpec("adagrad"), data)
    with pytest.raises(ValueError, match="has no momentum to schedule"):
        adapter.train_epoch(np.arange(BATCH), BATCH, [0.01], momenta=[0.9])


@pytest.mark.slow
def test_kill_and_resume_with_adam_gives_the_same_parquet(tmp_path):
    """SIGKILL in the second epoch, the same command again: Adam's buffers and step count come back
    from the checkpoint, and the parquet equals an uninterrupted run's, timing aside."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import PROJECT_ROOT
    from tests.test_resume import TIMING, table

    args = ("optimizer=adam", "scheduler=cosine", "scheduler.base_lr=0.001", "scheduler.final_lr=0.0001",
            "scheduler.total_steps=2", "epochs=2", "data.train_size=2048", "data.test_size=500", "progress=false",
            "threads=1")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli(*args, f"results_dir={straight}").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "harness", *args, f"results_dir={killed}"], cwd=PROJECT_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(killed.glob("*/_checkpoint.npz")):
        assert process.poll() is None and time.time() < deadline, "no checkpoint"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # in the second epoch: it starts right after the checkpoint
    process.wait()
    assert len(table(killed)) == 1
    out = run_cli(*args, f"results_dir={killed}")
    assert out.returncode == 0 and "(1 of them done before a resume)" in out.stdout, out.stderr
    resumed, expected = table(killed), table(straight)
    assert (resumed["optimizer"] == "adam").all() and len(resumed) == 2
    pd.testing.assert_frame_equal(resumed.drop(columns=TIMING), expected.drop(columns=TIMING))
