"""Reduce-on-plateau: our pure update against torch's ReduceLROnPlateau and Keras's callback,
fed the same metric sequences; then the schedule's pieces the runner uses."""

from __future__ import annotations

import types

import numpy as np
import pytest

from harness import plateau as pl
from tests.conftest import framework_installed


def metric_sequences():
    rng = np.random.default_rng(0)
    falling = 1.0 / (1 + np.arange(40))
    stalls = np.concatenate([np.linspace(1, 0.5, 8), np.full(10, 0.5), np.linspace(0.5, 0.3, 6), np.full(16, 0.3)])
    noisy = np.maximum.accumulate(np.zeros(40)) + 0.5 + 0.05 * rng.standard_normal(40) + np.linspace(0.3, 0, 40)
    rising = np.linspace(0.5, 1.0, 40)
    tiny_steps = 0.5 - 1e-5 * np.arange(40)  # improvements below a relative threshold of 1e-4
    return {"falling": falling, "stalls": stalls, "noisy": noisy, "rising": rising, "tiny_steps": tiny_steps}


PARAMS = [
    dict(),  # torch's defaults
    dict(factor=0.5, patience=2),
    dict(factor=0.5, patience=0, cooldown=2),
    dict(factor=0.3, patience=1, cooldown=1, min_lr=0.01),
    dict(factor=0.5, patience=2, threshold=0.01, threshold_mode="abs"),
    dict(factor=0.5, patience=1, mode="max", threshold=0.0),
]


def ours(metrics, base_lr=0.3, **params):
    p = pl.PlateauParams(base_lr=base_lr, **params)
    state, out = pl.initial_state(p), []
    for m in metrics:
        state = pl.update(state, float(m), p)
        out.append(state.lr)
    return out


@pytest.mark.skipif(not framework_installed("torch"), reason="torch not installed")
@pytest.mark.parametrize("params", PARAMS, ids=[str(p) or "defaults" for p in PARAMS])
def test_rates_equal_torch_reduce_lr_on_plateau(params):
    import torch

    for name, metrics in metric_sequences().items():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **params)
        theirs = []
        for m in metrics:
            sched.step(float(m))
            theirs.append(opt.param_groups[0]["lr"])
        assert ours(metrics, **params) == theirs, name  # exactly: the same float arithmetic


def keras_rates(metrics, **kwargs):
    import keras

    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", verbose=0, **kwargs)
    callback.set_model(types.SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=0.3)))
    callback.on_train_begin()
    out = []
    for epoch, m in enumerate(metrics):
        callback.on_epoch_end(epoch, {"val_loss": float(m)})
        out.append(float(callback.model.optimizer.learning_rate.numpy()))
    return out


KERAS = [dict(factor=0.5, patience=3), dict(factor=0.5, patience=1, cooldown=2),
         dict(factor=0.3, patience=2, min_delta=0.01, cooldown=1, min_lr=0.01)]


@pytest.mark.skipif(not framework_installed("tf"), reason="tensorflow not installed")
@pytest.mark.parametrize("kwargs", KERAS, ids=[str(k) for k in KERAS])
def test_rates_equal_keras_callback_with_its_offsets(kwargs):
    """Keras's callback is the same rule with three differences, pinned here:
    its ``patience`` counts the epoch that triggers (reduce at ``wait >= patience``; torch at
    ``bad > patience``), so Keras's p is our p - 1; its cooldown's last epoch already counts as
    bad, so Keras's c is our c - 1; and ``min_delta`` is an absolute threshold
    (``threshold_mode=abs``). Its rate lives in a float32 variable."""
    ours_kwargs = dict(factor=kwargs["factor"], patience=kwargs["patience"] - 1,
                       cooldown=max(kwargs.get("cooldown", 0) - 1, 0), threshold=kwargs.get("min_delta", 1e-4),
                       threshold_mode="abs", min_lr=kwargs.get("min_lr", 0.0))
    for name, metrics in metric_sequences().items():
        theirs = keras_rates(metrics, **kwargs)
        np.testing.assert_allclose(ours(metrics, **ours_kwargs), theirs, rtol=1e-6, err_msg=name)


def test_update_is_pure_and_counts_like_torch():
    p = pl.PlateauParams(base_lr=1.0, factor=0.5, patience=1, cooldown=1)
    s0 = pl.initial_state(p)
    s1 = pl.update(s0, 1.0, p)
    assert pl.update(s0, 1.0, p) == s1 and s0.best == float("inf")  # nothing mutated
    s2 = pl.update(s1, 1.0, p)  # one bad epoch: not more than patience
    s3 = pl.update(s2, 1.0, p)  # two: reduce, cooldown starts
    assert (s1.lr, s2.lr, s3.lr) == (1.0, 1.0, 0.5) and s3.cooldown_counter == 1
    s4, s5, s6 = pl.update(s3, 1.0, p), None, None
    s5 = pl.update(s4, 1.0, p)
    s6 = pl.update(s5, 1.0, p)
    assert (s4.lr, s5.lr, s6.lr) == (0.5, 0.5, 0.25)  # the cooldown epoch does not count
    assert pl.PlateauState.from_dict(s6.to_dict()) == s6


def test_rates_cap_the_warmup_ramp_and_feeds_skips_warmup_epochs():
    lr_at = pl.plateau(base_lr=0.4, warmup_steps=4)
    assert [lr_at(t) for t in range(6)] == [0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.4]
    state = pl.PlateauState(lr=0.25, best=0.1)
    assert pl.rates(state, np.array([0.1, 0.4])).tolist() == [0.1, 0.25]
    assert [pl.feeds(e, "epoch", 10, 4) for e in (3, 4)] == [False, True]
    assert [pl.feeds(e, "step", 10, 25) for e in (2, 3)] == [False, True]
    assert pl.feeds(0, "epoch", 10, None)


@pytest.mark.parametrize("key, value, message", [
    ("factor", 1.0, "factor=1.0 must be in (0, 1)"),
    ("mode", "up", "mode='up' must be one of min, max"),
    ("threshold_mode", "pct", "threshold_mode='pct' must be one of rel, abs"),
    ("patience", -1, "patience=-1 and cooldown=0 must be >= 0"),
    ("monitor", "loss", "monitor='loss' is unknown"),
])
def test_factory_rejects_bad_keys(key, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pl.plateau(base_lr=0.3, **{key: value})
