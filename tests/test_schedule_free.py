"""Schedule-free AdamW (``optimizer=schedule_free_adamw``): one algorithm, the authors' package's.

PyTorch runs ``schedulefree.AdamWScheduleFree`` itself; TensorFlow runs the same update written in
TF ops (``TFAdapter._schedule_free``); MXNet has no maintained implementation and refuses it in one
line (tests/test_bad_input.py). The tests hold both frameworks to the float64 formula of ``harness.optimizers``, to each other
over twenty updates of real images under a changing rate, and check the part no other optimizer
has: the network is evaluated at the average x, not at the training point y, and going there and
back leaves training (and a resume) bit for bit where it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.optimizers import OptimizerSpec, reference_step, schedule_free_eval_point
from harness.schedules import cosine
from tests.conftest import INSTALLED_FRAMEWORKS, run_cli
from tests.test_optimizer_parity import relative_gaps, smooth_lenet
from tests.test_optimizers import fresh

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

pytest.importorskip("schedulefree")
FRAMEWORKS = [f for f in ("torch", "tf") if f in INSTALLED_FRAMEWORKS]
BATCH = 16
# eps comparable to sqrt(v) and beta2 0.9, so that eps's place and the bias correction count; weight
# decay 0.1; one layer at half the rate; a first update at rate 0 (a warmup's first), whose weight in
# the average is 0 (the package's ZeroDivisionError branch).
SHARP = OptimizerSpec("schedule_free_adamw", beta2=0.9, eps=1e-3, weight_decay=0.1, lr_mult={"0.weight": 0.5})
LRS = [0.0, 0.01, 0.005, 0.002]


@pytest.fixture(scope="module")
def data():
    from harness.data import load_fashion_mnist

    return load_fashion_mnist(download=False, train_size=20 * BATCH, test_size=500)


def test_the_first_update_is_adams_first_step_and_y_z_x_coincide():
    """Update 1: c = 1 (the only weight in the average), v = (1-b2) g^2 so the corrected root is |g|:
    y = z = x = w - lr (g / (|g| + eps) + wd w)."""
    spec = OptimizerSpec("schedule_free_adamw", eps=0.5, weight_decay=0.25)
    w, state = reference_step(spec, {"w": np.array([2.0])}, {"w": np.array([1.5])}, {}, 0.1)
    expected = 2.0 - 0.1 * (1.5 / (1.5 + 0.5) + 0.25 * 2.0)
    assert w["w"][0] == pytest.approx(expected) and state["z/w"][0] == pytest.approx(expected)
    assert schedule_free_eval_point(w["w"], state["z/w"], 0.9)[0] == pytest.approx(expected)
    assert float(state["lr_max/w"]) == 0.1 and float(state["weight_sum/w"]) == pytest.approx(0.01)


def test_the_average_weighs_each_update_by_lr_max_squared():
    """Rates 0.1 then 0.2: weights 0.01 and 0.04 (lr_max^2), so c_2 = 0.8 and x_2 = 0.2 x_1 + 0.8 z_2."""
    spec = OptimizerSpec("schedule_free_adamw", beta1=0.5, eps=1e-12)
    w, state = reference_step(spec, {"w": np.array([0.0])}, {"w": np.array([1.0])}, {}, 0.1)
    x1 = schedule_free_eval_point(w["w"], state["z/w"], 0.5)
    w, state = reference_step(spec, w, {"w": np.array([1.0])}, state, 0.2)
    assert float(state["weight_sum/w"]) == pytest.approx(0.05)
    assert schedule_free_eval_point(w["w"], state["z/w"], 0.5)[0] == pytest.approx(0.2 * x1[0] + 0.8 * state["z/w"][0])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_update_is_the_documented_formula(framework, data):
    adapter = fresh(framework, SHARP, data)
    reference_state: dict = {}
    for k, lr in enumerate(LRS):
        batch = np.arange(k * BATCH, (k + 1) * BATCH)
        before = adapter.get_weights()
        _, grads = adapter.loss_and_gradients(data.train_x[batch], data.train_y[batch])
        expected, reference_state = reference_step(SHARP, before, grads, reference_state, lr)
        adapter.train_epoch(batch, BATCH, [lr])
        after = adapter.get_weights()
        for name in before:
            step = np.abs(expected[name] - before[name]).max()
            # z is carried in float32 here and float64 there: allow a few float32 spacings of the weights
            rounding = 4 * np.spacing(np.float32(np.abs(before[name]).max()))
            assert np.abs(after[name] - expected[name]).max() <= 1e-4 * step + rounding, (k, name)
    state = adapter.get_state()
    assert int(state["step"]) == len(LRS)
    for key, value in reference_state.items():
        if key.startswith(("lr_max/", "weight_sum/")):  # float64 scalars in both: the same sums
            assert float(state[key]) == pytest.approx(float(value), rel=1e-12), key
        elif key != "step":
            assert np.abs(state[key] - value).max() <= 1e-4 * max(np.abs(value).max(), 1e-30), key


@pytest.fixture(scope="module")
def twenty(data):
    """Twenty updates of batch 16 under a per-update cosine from 2.5e-3 (the package's rate) to a
    tenth, on the smooth LeNet (tests/test_optimizer_parity.py says why), weight decay 0.01; the
    loss trace, the final training weights, the state and the test loss at x, per framework."""
    spec = smooth_lenet()
    optimizer = OptimizerSpec("schedule_free_adamw", weight_decay=0.01)
    lr_at = cosine(2.5e-3, 2.5e-4, 20)
    out = {}
    for framework in FRAMEWORKS:
        adapter = fresh(framework, optimizer, data, spec)
        stats = adapter.train_epoch(np.arange(20 * BATCH), BATCH, [lr_at(k) for k in range(20)], trace_lrs=True)
        test = adapter.evaluate()
        out[framework] = (np.array(stats.step_losses), adapter.get_weights(), adapter.get_state(),
                          test.loss_sum / test.count)
    return out


@pytest.mark.skipif(FRAMEWORKS != ["torch", "tf"], reason="needs PyTorch and TensorFlow")
def test_tensorflow_agrees_with_the_package_over_twenty_updates(twenty):
    trace_gap, weight_gaps = relative_gaps(twenty["tf"][:2], twenty["torch"][:2])
    assert trace_gap <= 1e-5
    worst = max(weight_gaps, key=weight_gaps.get)
    assert weight_gaps[worst] <= 1e-5, (worst, weight_gaps[worst])
    z_gaps = [np.linalg.norm(twenty["tf"][2][k] - v) / np.linalg.norm(v)
              for k, v in twenty["torch"][2].items() if k.startswith("z/")]
    assert max(z_gaps) <= 1e-5
    assert abs(twenty["tf"][3] - twenty["torch"][3]) <= 1e-5 * twenty["torch"][3]
    losses = twenty["torch"][0]
    assert losses[-1] < losses[0]  # it trained


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_evaluation_is_at_the_average_x_not_the_training_point(framework, twenty, data):
    """The test loss a schedule-free adapter reports is the loss of x = y + (1 - 1/beta1)(z - y),
    which after twenty updates is measurably not the loss of y."""
    _, y, state, reported = twenty[framework]
    x = {name: schedule_free_eval_point(y[name], state[f"z/{name}"], 0.9).astype(np.float32) for name in y}
    probe = fresh(framework, OptimizerSpec("sgd"), data)
    probe.set_weights(x)
    at_x = probe.evaluate()
    probe.set_weights(y)
    at_y = probe.evaluate()
    off_x = abs(at_x.loss_sum / at_x.count - reported)
    off_y = abs(at_y.loss_sum / at_y.count - reported)
    assert off_x <= 1e-6 * reported  # x rounded to float32 in numpy or in the framework: the same network
    assert off_y > 1e-5 * reported and off_y > 20 * off_x  # y is another network


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_evaluating_and_resuming_leave_training_bit_for_bit(framework, data):
    """Train, evaluate, train: the same weights as train, checkpoint (after the evaluation, as the
    runner does), restore into a fresh adapter, train. The evaluation's detour to x is undone exactly."""
    first, second = np.arange(0, 4 * BATCH), np.arange(4 * BATCH, 8 * BATCH)
    straight = fresh(framework, SHARP, data)
    straight.train_epoch(first, BATCH, [1e-3] * 4)
    before = straight.get_weights()
    straight.evaluate()
    assert all(np.array_equal(before[n], w) for n, w in straight.get_weights().items())
    state = straight.get_state()
    straight.train_epoch(second, BATCH, [2e-3] * 4)
    resumed = fresh(framework, SHARP, data)
    resumed.set_state(state)
    resumed.train_epoch(second, BATCH, [2e-3] * 4)
    expected = straight.get_state()
    assert set(resumed.get_state()) == set(expected)
    for key, value in resumed.get_state().items():
        assert np.array_equal(value, expected[key]), key


def test_the_cli_runs_it_in_pytorch_and_tensorflow_and_records_it(tmp_path):
    import pandas as pd

    for framework in FRAMEWORKS:
        out = run_cli(f"framework={framework}", "optimizer=schedule_free_adamw", "scheduler=constant",
                      "scheduler.base_lr=0.0025", "scheduler.unit=step", "scheduler.warmup_steps=4", "epochs=1", "data.train_size=2048",
                      "data.test_size=500", "threads=1", "progress=false", f"results_dir={tmp_path}")
        assert out.returncode == 0, out.stderr
    rows = pd.concat(pd.read_parquet(path) for path in tmp_path.glob("*/epochs.parquet"))
    assert sorted(rows["framework"]) == sorted(FRAMEWORKS)
    assert (rows["optimizer"] == "schedule_free_adamw").all()
    assert all('"r":0.0' in p and '"weight_lr_power":2.0' in p for p in rows["optimizer_params"])
    assert (rows["test_acc"] > 0.3).all()  # 8 updates from a LeNet at chance (0.1): it learned


@pytest.mark.skipif("mxnet" not in INSTALLED_FRAMEWORKS, reason="needs MXNet")
def test_the_mxnet_adapter_itself_refuses_it():
    """Code that builds an adapter without the CLI gets the CLI's error, not another rule's update."""
    from adapters import load_adapter
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="not available with framework=mxnet"):
        load_adapter("mxnet")(smooth_lenet(), OptimizerSpec("schedule_free_adamw"), "cpu", 0)
