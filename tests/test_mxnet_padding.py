"""MXNet builds a conv that feeds another conv 8 channels wide (oneDNN's AVX2 block); the extra
channels must be invisible: zero in, zero out, never trained, never seen by the harness."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from harness.paths import CONF_DIR
from harness.model import init_weights, placed_activations, spec_from_config
from harness.optimizers import OptimizerSpec

mxnet_adapter = pytest.importorskip("adapters.mxnet_adapter")  # imports MXNet behind its shim


@pytest.fixture(scope="module")
def spec():
    return spec_from_config(OmegaConf.load(CONF_DIR / "model" / "lenet.yaml"))


def widths(spec):
    return mxnet_adapter.padded_widths(spec, placed_activations(spec))


def test_lenet_first_conv_is_widened_to_the_channel_block_and_the_last_conv_is_not(spec):
    # The last conv feeds flatten and the dense layer: widening it would change their inputs.
    assert widths(spec) == [8, None, 16, None, None, None, None, None]


def test_a_conv_whose_activation_moves_zero_is_not_widened(spec):
    # sigmoid(0) = 0.5: the extra channels would feed the next conv, whose extra weights would learn.
    layers = list(spec.layers)
    layers[0] = dataclasses.replace(layers[0], activation="sigmoid")
    assert widths(dataclasses.replace(spec, layers=tuple(layers)))[0] == 6


# Every rule, each with its weight decay: a zero weight with a zero gradient and a zero state
# must get an exactly zero update (Adam's, AdaGrad's, RMSprop's 0 / (0 + eps) included).
RULES = {
    "sgd_momentum": (OptimizerSpec("sgd", momentum=0.9, weight_decay=1e-3), 0.3),
    "adam": (OptimizerSpec("adam", weight_decay=1e-2), 1e-2),
    "adamw": (OptimizerSpec("adamw", weight_decay=1e-2), 1e-2),
    "adagrad": (OptimizerSpec("adagrad", initial_accumulator_value=0.0, weight_decay=1e-2), 1e-2),
    "rmsprop": (OptimizerSpec("rmsprop", momentum=0.9, centered=True, weight_decay=1e-2), 1e-3),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_extra_channels_stay_zero_and_never_reach_the_harness(spec, rule):
    from harness.data import load_fashion_mnist

    optimizer, lr = RULES[rule]
    data = load_fashion_mnist(download=False, train_size=1024, test_size=256)
    adapter = mxnet_adapter.MXNetAdapter(spec, optimizer, device="cpu", seed=0)
    adapter.set_weights(init_weights(spec, 0))
    adapter.set_data(data.train_x, data.train_y, data.test_x, data.test_y)
    adapter.train_epoch(np.arange(1024), 256, [lr] * 4)  # a high rate for the rule

    built = adapter.padded_arrays()
    assert built["0.weight"].shape == (8, 1, 5, 5) and built["2.weight"].shape == (16, 8, 5, 5)
    assert not built["0.weight"][6:].any() and not built["0.bias"][6:].any()
    assert not built["2.weight"][:, 6:].any()
    assert built["0.weight"][:6].any() and built["2.weight"][:, :6].any()  # the real ones trained

    shapes = spec.param_shapes()
    assert {name: w.shape for name, w in adapter.get_weights().items()} == shapes
    state = adapter.get_state()
    for slot in optimizer.slots():
        assert state[f"{slot}/0.weight"].shape == shapes["0.weight"] and state[f"{slot}/0.weight"].any()
        held = built[f"{slot}/0.weight"]
        assert held.shape == (8, 1, 5, 5) and not held[6:].any(), slot  # the padded buffers stay zero too
    _, grads = adapter.loss_and_gradients(data.train_x[:64], data.train_y[:64])
    assert {name: g.shape for name, g in grads.items()} == shapes
    assert adapter.num_params() == 61_706
