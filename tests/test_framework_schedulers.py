"""Our pure schedules against the frameworks' own scheduler objects (docs/schedules.md).

Where a framework claims the same curve the values must agree to float rounding; where the
conventions differ by design the difference is pinned here, value for value.
"""

from __future__ import annotations

import math

import pytest

from adapters import REGISTRY
from harness.schedules import cosine, factor_decay, multi_factor, sqrt_decay, warmup_cosine
from tests.conftest import framework_installed

needs = {name: pytest.mark.skipif(not framework_installed(name), reason=f"{name} not installed") for name in REGISTRY}


def torch_rates(make_scheduler, base_lr, epochs):
    """The rate a torch optimizer holds at each epoch, stepping the scheduler after each."""
    import torch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@needs["torch"]
def test_torch_lambdalr_equals_sqrt():
    import torch

    rates = torch_rates(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: (t + 1) ** -0.5), 0.1, 30)
    assert rates == pytest.approx([sqrt_decay(0.1)(t) for t in range(30)], rel=1e-12)


@needs["torch"]
def test_torch_multisteplr_drops_one_epoch_earlier():
    import torch

    rates = torch_rates(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [15, 30], 0.5), 0.5, 40)
    ours = multi_factor(0.5, [15, 30], 0.5)
    # torch drops *at* the milestone (t == m), ours after it (t > m): ours(t) == torch(t - 1).
    assert rates[15] == 0.25 and ours(15) == 0.5 and ours(16) == 0.25
    assert [ours(t) for t in range(1, 40)] == rates[:-1]


@needs["torch"]
def test_torch_cosineannealing_equals_cosine_until_the_horizon_then_rises_again():
    import torch

    rates = torch_rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.01), 0.3, 30)
    ours = cosine(0.3, 0.01, 20)
    assert rates[:21] == pytest.approx([ours(t) for t in range(21)], rel=1e-9)
    # Past T_max torch follows the cosine back up; ours stays at final_lr.
    assert rates[25] > 0.02 and ours(25) == 0.01


@needs["tf"]
def test_keras_piecewise_constant_equals_multifactor():
    import keras

    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([15, 30], [0.5, 0.25, 0.125])
    ours = multi_factor(0.5, [15, 30], 0.5)
    assert [float(schedule(t)) for t in range(40)] == pytest.approx([ours(t) for t in range(40)], rel=1e-7)


@needs["tf"]
def test_keras_cosine_decay_with_warmup_counts_its_horizon_after_the_warmup():
    import keras

    # Keras's decay_steps excludes the warmup; ours (like MXNet's) includes it: 20 = 5 + 15.
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=15, alpha=0.01 / 0.3, warmup_target=0.3, warmup_steps=5
    )
    ours = warmup_cosine(0.3, 0.01, total_steps=20, warmup_steps=5)
    assert [float(schedule(t)) for t in range(30)] == pytest.approx([ours(t) for t in range(30)], rel=1e-6, abs=1e-7)
    same_numbers = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=20, alpha=0.01 / 0.3, warmup_target=0.3, warmup_steps=5)
    assert float(same_numbers(20)) > 0.02  # decay_steps=20 would end at t = 25, not 20


@pytest.fixture(scope="module")
def mx_lr_scheduler():
    pytest.importorskip("adapters.mxnet_adapter")  # imports MXNet behind its numpy.bool shim
    from mxnet import lr_scheduler

    return lr_scheduler


@needs["mxnet"]
def test_mxnet_multifactor_equals_ours(mx_lr_scheduler):
    schedule = mx_lr_scheduler.MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5)
    ours = multi_factor(0.5, [15, 30], 0.5)
    assert [schedule(t) for t in range(40)] == [ours(t) for t in range(40)]


@needs["mxnet"]
def test_mxnet_factor_decays_one_update_later(mx_lr_scheduler):
    schedule = mx_lr_scheduler.FactorScheduler(step=1, factor=0.9, stop_factor_lr=0.01, base_lr=2.0)
    ours = factor_decay(2.0, 0.9, 0.01)
    values = [schedule(t) for t in range(80)]
    # MXNet decays when t > count + step, so t = 0 and t = 1 both give base_lr: mxnet(t) == ours(t - 1).
    assert values[0] == values[1] == 2.0
    assert values[1:] == pytest.approx([ours(t) for t in range(79)], rel=1e-12)


@needs["mxnet"]
def test_mxnet_cosine_with_warmup_equals_ours_and_a_fresh_one_is_stale_past_the_horizon(mx_lr_scheduler):
    schedule = mx_lr_scheduler.CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01)
    ours = warmup_cosine(0.3, 0.01, 20, 5)
    assert [schedule(t) for t in range(30)] == pytest.approx([ours(t) for t in range(30)], rel=1e-12)
    fresh = mx_lr_scheduler.CosineScheduler(20, base_lr=0.3, final_lr=0.01)
    assert fresh(25) == 0.3 and cosine(0.3, 0.01, 20)(25) == 0.01  # it returns its stored base_lr
    assert math.isclose(fresh(10), cosine(0.3, 0.01, 20)(10))
