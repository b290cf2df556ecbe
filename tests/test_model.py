"""The framework-neutral model spec and its initialisers."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from harness.paths import CONF_DIR
from harness.errors import HarnessError
from harness.model import init_weights, spec_from_config


def load(name):
    return spec_from_config(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"))


@pytest.mark.parametrize("name", ["lenet", "lenet_d2l_tf"])
def test_both_lenets_have_61706_parameters_and_the_same_shapes(name):
    spec = load(name)
    assert spec.num_params() == 61_706
    assert spec.feature_shape_before_flatten() == (16, 5, 5)
    assert spec.param_shapes()["5.weight"] == (120, 400)


def test_torch_default_init_bounds_are_one_over_sqrt_fan_in():
    weights = init_weights(load("lenet"), 0, "torch_default")
    for name, fan_in in (("0", 25), ("2", 150), ("5", 400), ("6", 120), ("7", 84)):
        bound = 1 / np.sqrt(fan_in)
        for part in ("weight", "bias"):
            values = weights[f"{name}.{part}"]
            assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound, (name, part)


def test_torch_default_matches_pytorchs_own_layer_init_distribution():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ours = init_weights(load("lenet"), 0, "torch_default")["5.weight"]
    theirs = torch.nn.Linear(400, 120).weight.detach().numpy()
    # Same uniform law: equal bounds, and the standard deviations agree to sampling noise.
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.02)


def test_unknown_init_and_bad_layers_are_reported():
    cfg = OmegaConf.load(CONF_DIR / "model" / "lenet.yaml")
    with pytest.raises(HarnessError, match="model.init='he'"):
        spec_from_config({**cfg, "init": "he"})
    broken = OmegaConf.to_container(cfg)
    broken["layers"][0]["type"] = "convolution"
    with pytest.raises(HarnessError, match="type='convolution'"):
        spec_from_config(broken)
    with pytest.raises(HarnessError, match="model.init='he'"):
        init_weights(load("lenet"), 0, "he")
