"""The PyTorch adapter against the contract in adapters/base.py."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from harness.paths import CONF_DIR
from harness.model import init_weights, spec_from_config
from harness.optimizers import OptimizerSpec
from harness.schedules import cosine, epoch_learning_rates

torch = pytest.importorskip("torch")
from adapters.torch_adapter import TorchAdapter  # noqa: E402


@pytest.fixture(scope="module")
def spec():
    return spec_from_config(OmegaConf.load(CONF_DIR / "model" / "lenet.yaml"))


def make_adapter(spec, seed=0, momentum=0.0):
    adapter = TorchAdapter(spec, OptimizerSpec("sgd", momentum=momentum), device="cpu", seed=seed)
    adapter.set_weights(init_weights(spec, seed))
    return adapter


def test_lenet_has_61706_parameters_in_spec_and_model(spec):
    assert spec.num_params() == 61_706
    assert make_adapter(spec).num_params() == 61_706


def test_weights_round_trip_exactly(spec):
    weights = init_weights(spec, 3)
    adapter = make_adapter(spec, seed=0)
    adapter.set_weights(weights)
    back = adapter.get_weights()
    assert back.keys() == weights.keys()
    for name in weights:
        assert np.array_equal(back[name], weights[name]), name


def test_init_is_xavier_uniform_with_zero_biases(spec):
    weights = init_weights(spec, 0)
    fc1 = weights["5.weight"]  # 400 -> 120
    limit = np.sqrt(6 / (400 + 120))
    assert fc1.shape == (120, 400) and np.abs(fc1).max() <= limit and np.abs(fc1).max() > 0.99 * limit
    assert not weights["5.bias"].any()
    assert not np.array_equal(weights["0.weight"], init_weights(spec, 1)["0.weight"])


def test_applied_learning_rate_equals_the_one_passed_at_every_update(spec, fashion_mnist):
    adapter = make_adapter(spec)
    x, y = fashion_mnist.train_x[:1024], fashion_mnist.train_y[:1024]
    adapter.set_data(x, y, x[:256], y[:256])
    schedule = cosine(0.3, 0.01, 20)
    lrs = epoch_learning_rates(schedule, "step", epoch=0, steps_per_epoch=16)  # changes every update
    stats = adapter.train_epoch(np.arange(1024), 64, lrs, trace_lrs=True)
    assert len(stats.applied_lrs) == 16
    np.testing.assert_allclose(stats.applied_lrs, lrs, rtol=1e-7, atol=0)
    assert len(set(stats.applied_lrs)) == 16


def test_one_update_is_plain_sgd(spec, small_batch):
    """w' = w - lr * grad of the mean cross-entropy, checked against autograd by hand."""
    x, y = small_batch
    adapter = make_adapter(spec)
    adapter.set_data(x, y, x, y)
    before = adapter.get_weights()
    _, grads = make_adapter(spec).loss_and_gradients(x, y)
    adapter.train_epoch(np.arange(len(y)), len(y), [0.1])
    after = adapter.get_weights()
    for name in before:
        np.testing.assert_allclose(after[name], before[name] - 0.1 * grads[name], rtol=1e-5, atol=1e-7)


def test_loss_falls_on_a_fixed_batch(spec, small_batch):
    x, y = small_batch
    adapter = make_adapter(spec)
    adapter.set_data(x, y, x, y)
    first = adapter.evaluate().loss
    for _ in range(80):
        adapter.train_epoch(np.arange(len(y)), len(y), [0.05])
    last = adapter.evaluate()
    assert first == pytest.approx(np.log(10), rel=0.05)  # near-uniform predictions at init
    assert last.loss < 0.5 * first  # measured: 2.32 -> 0.82 after 80 full-batch updates


def test_epoch_sums_match_per_batch_means(spec, small_batch):
    x, y = small_batch
    adapter = make_adapter(spec)
    adapter.set_data(x, y, x, y)
    order = np.random.default_rng(0).permutation(len(y))
    stats = adapter.train_epoch(order, 100, [0.0] * 3)  # lr 0: the weights do not move
    assert stats.count == 256
    ev = adapter.evaluate()
    assert stats.loss == pytest.approx(ev.loss, rel=1e-6) and stats.correct == ev.correct


def test_state_round_trip_carries_momentum(spec, small_batch):
    x, y = small_batch
    a = make_adapter(spec, momentum=0.9)
    a.set_data(x, y, x, y)
    a.train_epoch(np.arange(256), 64, [0.05] * 4)
    state = a.get_state()
    assert sum(k.startswith("momentum/") for k in state) == 10
    b = make_adapter(spec, momentum=0.9, seed=5)
    b.set_data(x, y, x, y)
    b.set_state(state)
    a.train_epoch(np.arange(256), 64, [0.05] * 4)
    b.train_epoch(np.arange(256), 64, [0.05] * 4)
    for name, value in a.get_weights().items():
        assert np.array_equal(value, b.get_weights()[name]), name


def test_device_and_tf32_are_recorded(spec):
    adapter = make_adapter(spec)
    assert adapter.device == "cpu" and adapter.settings == {"tf32": False, "channels_last": True}
    assert adapter.framework_version == torch.__version__


def test_activation_moved_after_max_pool_computes_the_same_function(spec, small_batch):
    """The adapter applies ReLU after max-pooling (cheaper); the spec order gives equal results."""
    from torch import nn

    x, y = (torch.from_numpy(a) for a in small_batch)
    adapter = make_adapter(spec, seed=2)
    in_spec_order = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    weights = init_weights(spec, 2)
    plain_params = [m for m in in_spec_order if isinstance(m, (nn.Conv2d, nn.Linear))]
    for module, index in zip(plain_params, (0, 2, 5, 6, 7)):
        module.weight.data.copy_(torch.from_numpy(weights[f"{index}.weight"]))
        module.bias.data.copy_(torch.from_numpy(weights[f"{index}.bias"]))
    in_spec_order.to(memory_format=torch.channels_last)  # same kernels as the adapter's
    ours, theirs = adapter.model(x), in_spec_order(x)
    assert torch.equal(ours, theirs)  # forward: bit for bit
    _, grads = adapter.loss_and_gradients(*small_batch)
    torch.nn.functional.cross_entropy(theirs, y).backward()
    for module, index in zip(plain_params, (0, 2, 5, 6, 7)):
        torch.testing.assert_close(torch.from_numpy(grads[f"{index}.weight"]), module.weight.grad, rtol=1e-5, atol=1e-7)
