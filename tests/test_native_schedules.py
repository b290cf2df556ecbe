"""The schedule library against the frameworks' own scheduler objects, over a full run.

Every row of docs/schedules.md that names a framework object is here: the values agree to 1e-7
relative (float64 objects: far closer; Keras computes in float32, so its rows are pinned at 2e-7
relative, the float32 rounding, or stated), or the test pins the difference value for value.
torch's OneCycleLR and CyclicLR are compared on momentum as well as on the rate. Nothing trains;
TensorFlow is imported once for the module.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import REGISTRY
from harness.schedules import (
    chained,
    cosine,
    cosine_restarts,
    cyclic,
    cyclic_momentum,
    exponential,
    inverse_time,
    linear_decay,
    linear_onecycle,
    noam,
    onecycle,
    onecycle_momentum,
    piecewise_constant,
    polynomial,
    step_decay,
    warmup_linear,
)
from tests.conftest import framework_installed

needs = {name: pytest.mark.skipif(not framework_installed(name), reason=f"{name} not installed") for name in REGISTRY}
REL = 1e-7
KERAS_REL = 1e-6  # Keras computes in float32 (ulp 1.2e-7 relative) and rounds a chain of operations: measured up to 3.3e-7
EPOCHS, UPDATES = 30, 8  # a run of 30 epochs of 8 updates: 30 values per epoch unit, 240 per step unit


def ours(schedule, n):
    return np.array([schedule(t) for t in range(n)])


def relative_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def torch_trace(make_scheduler, lr, n, momentum=0.0):
    """Rate and momentum the torch optimizer holds before each of n updates (scheduler.step after each)."""
    import torch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=momentum)
    scheduler = make_scheduler(optimizer)
    rates, momenta = [], []
    for _ in range(n):
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return np.array(rates), np.array(momenta)


# --- PyTorch --------------------------------------------------------------------------------


@needs["torch"]
@pytest.mark.parametrize("unit_length", [EPOCHS, EPOCHS * UPDATES], ids=["epoch", "step"])
def test_torch_step_exponential_polynomial_linear(unit_length):
    import torch

    sched = torch.optim.lr_scheduler
    n = unit_length
    cases = {
        "StepLR": (step_decay(0.3, n // 3, 0.1), lambda o: sched.StepLR(o, step_size=n // 3, gamma=0.1)),
        "ExponentialLR": (exponential(0.3, gamma=0.9 ** (EPOCHS / n)), lambda o: sched.ExponentialLR(o, gamma=0.9 ** (EPOCHS / n))),
        "PolynomialLR": (polynomial(0.3, n, power=0.9), lambda o: sched.PolynomialLR(o, total_iters=n, power=0.9)),
        "LinearLR": (linear_decay(0.3, n, final_lr=0.03),
                     lambda o: sched.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=n)),
        "LambdaLR(noam)": (noam(0.3, n // 10),
                           lambda o: sched.LambdaLR(o, lambda t: (n // 10) ** 0.5 * min((t + 1) ** -0.5, (t + 1) * (n // 10) ** -1.5))),
    }
    for name, (schedule, make) in cases.items():
        rates, _ = torch_trace(make, 0.3, n + 5)  # and a few past the horizon
        assert relative_error(ours(schedule, n + 5), rates) < REL, name


@needs["torch"]
def test_torch_lambdalr_equals_noam_with_d_model():
    import torch

    d_model, warmup = 512, 40
    rates, _ = torch_trace(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: min((t + 1) ** -0.5, (t + 1) * warmup**-1.5)),
                           1.0 * d_model**-0.5, 400)
    assert relative_error(ours(noam(1.0, warmup, d_model=512), 400), rates) < REL
    assert np.argmax(rates) == warmup - 1


@needs["torch"]
@pytest.mark.parametrize("cycle_mult", [1, 2, 3])
def test_torch_cosine_warm_restarts_equals_sgdr(cycle_mult):
    import torch

    rates, _ = torch_trace(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=cycle_mult, eta_min=0.001), 0.3, 200)
    assert relative_error(ours(cosine_restarts(0.3, 10, final_lr=0.001, cycle_mult=cycle_mult), 200), rates) < REL


@needs["torch"]
def test_torch_sequential_linear_linear_equals_warmup_linear():
    import torch

    sched = torch.optim.lr_scheduler
    base, begin, warmup, total = 0.3, 0.03, 24, 240
    rates, _ = torch_trace(lambda o: sched.SequentialLR(o, [
        sched.LinearLR(o, start_factor=begin / base, end_factor=1.0, total_iters=warmup),
        sched.LinearLR(o, start_factor=1.0, end_factor=1e-9, total_iters=total - warmup),
    ], milestones=[warmup]), base, total)
    expected = ours(warmup_linear(base, total, warmup, final_lr=base * 1e-9, warmup_begin_lr=begin), total)
    assert relative_error(expected, rates) < REL


@needs["torch"]
@pytest.mark.parametrize("three_phase", [False, True], ids=["two-phase", "three-phase"])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("total", [3, 240, 7050])  # 3: the rise has no update (pct_start * 3 - 1 < 0)
def test_torch_onecycle_rates_and_momentum(three_phase, anneal, total):
    import torch

    kwargs = dict(pct_start=0.3, div_factor=25.0, final_div_factor=1e4, anneal=anneal, three_phase=three_phase)
    if three_phase and total == 3:  # torch anneals backwards through a phase that ends before it starts; ours refuses
        with pytest.raises(ValueError, match="leaves a phase without updates"):
            onecycle(0.5, total, **kwargs)
        return
    momentum = dict(base_momentum=0.85, max_momentum=0.95)
    rates, momenta = torch_trace(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, total_steps=total, anneal_strategy=anneal, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
        three_phase=three_phase, **momentum), 0.5, total, momentum=0.9)
    assert relative_error(ours(onecycle(0.5, total, **kwargs, cycle_momentum=True, **momentum), total), rates) < REL
    ours_momentum = onecycle_momentum(total, 0.3, anneal=anneal, three_phase=three_phase, **momentum)
    assert relative_error(ours(ours_momentum, total), momenta) < REL
    # Past its horizon torch raises (step > total_steps); ours stays at the minimum.
    assert onecycle(0.5, total, **kwargs)(total + 10) == pytest.approx(0.5 / 25 / 1e4)


@needs["torch"]
@pytest.mark.parametrize("mode, gamma", [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.999)])
def test_torch_cycliclr_rates_and_momentum(mode, gamma):
    import torch

    rates, momenta = torch_trace(lambda o: torch.optim.lr_scheduler.CyclicLR(
        o, base_lr=0.05, max_lr=0.5, step_size_up=20, step_size_down=30, mode=mode, gamma=gamma,
        cycle_momentum=True, base_momentum=0.8, max_momentum=0.9), 0.05, 500, momentum=0.9)
    assert relative_error(ours(cyclic(0.05, 0.5, 20, 30, mode, gamma), 500), rates) < REL
    assert relative_error(ours(cyclic_momentum(20, 30, mode, gamma, 0.8, 0.9), 500), momenta) < REL


@needs["torch"]
@pytest.mark.parametrize("unit_length", [EPOCHS, EPOCHS * UPDATES], ids=["epoch", "step"])
def test_torch_chained_scheduler_equals_chained(unit_length):
    import torch

    sched, n, warmup = torch.optim.lr_scheduler, unit_length, unit_length // 6
    gamma = 0.9 ** (EPOCHS / n)
    rates, _ = torch_trace(lambda o: sched.ChainedScheduler([
        sched.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=warmup), sched.ExponentialLR(o, gamma=gamma)]), 0.3, n)
    mine = chained(0.3, [{"kind": "constant_warmup", "warmup_steps": warmup, "warmup_begin_lr": 0.1},
                         {"kind": "exponential", "gamma": gamma}])
    assert relative_error(ours(mine, n), rates) < REL
    assert mine(warmup) == pytest.approx(0.3 * gamma**warmup, rel=1e-12)  # the warmup factor has reached 1


# --- Keras (float32) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_schedules():
    if not framework_installed("tf"):
        pytest.skip("tf not installed")
    import keras

    return keras.optimizers.schedules


def keras_values(schedule, n):
    import keras

    return np.array(keras.ops.convert_to_numpy(schedule(np.arange(n, dtype=np.float32))), dtype=np.float64)


@pytest.mark.parametrize("staircase", [False, True])
def test_keras_exponential_and_inverse_time(keras_schedules, staircase):
    ks = keras_schedules
    n = EPOCHS * UPDATES
    pairs = {
        "ExponentialDecay": (exponential(0.3, decay_rate=0.5, decay_steps=24, staircase=staircase),
                             ks.ExponentialDecay(0.3, decay_steps=24, decay_rate=0.5, staircase=staircase)),
        "InverseTimeDecay": (inverse_time(0.3, 1.0, 24, staircase=staircase),
                             ks.InverseTimeDecay(0.3, decay_steps=24, decay_rate=1.0, staircase=staircase)),
    }
    for name, (mine, theirs) in pairs.items():
        assert relative_error(keras_values(theirs, n), ours(mine, n)) < KERAS_REL, name


def test_keras_polynomial_decay(keras_schedules):
    n = EPOCHS * UPDATES
    theirs = keras_schedules.PolynomialDecay(0.3, decay_steps=200, end_learning_rate=0.003, power=0.9)
    assert relative_error(keras_values(theirs, n), ours(polynomial(0.3, 200, 0.9, final_lr=0.003), n)) < KERAS_REL


def test_keras_polynomial_decay_with_cycle(keras_schedules):
    n = EPOCHS * UPDATES
    theirs = keras_schedules.PolynomialDecay(0.3, decay_steps=50, end_learning_rate=0.003, power=0.9, cycle=True)
    mine = polynomial(0.3, 50, 0.9, final_lr=0.003, cycle=True)
    assert relative_error(keras_values(theirs, n), ours(mine, n)) < KERAS_REL
    assert mine(50) == pytest.approx(0.003) and mine(51) == pytest.approx(0.003 + 0.297 * (1 - 51 / 100) ** 0.9)


def test_keras_piecewise_constant_decay(keras_schedules):
    n = EPOCHS * UPDATES
    theirs = keras_schedules.PiecewiseConstantDecay([24, 100], [0.3, 0.1, 0.01])
    mine = piecewise_constant(0.3, [24, 100], [0.1, 0.01])
    assert relative_error(keras_values(theirs, n), ours(mine, n)) < KERAS_REL
    assert (mine(24), mine(25), mine(100), mine(101)) == (0.3, 0.1, 0.1, 0.01)  # t > b, as Keras


def test_keras_cosine_decay_restarts(keras_schedules):
    n = 700
    same = keras_schedules.CosineDecayRestarts(0.3, first_decay_steps=10, t_mul=2.0, m_mul=1.0, alpha=0.01 / 0.3)
    # Keras finds the cycle and its fraction in float32 (log of 1 - t/T (1 - t_mul)), so the error
    # grows with t: measured over 700 steps 9.5e-7 relative, 5.2e-8 absolute (docs/schedules.md).
    theirs, values = keras_values(same, n), ours(cosine_restarts(0.3, 10, final_lr=0.01, cycle_mult=2.0), n)
    assert relative_error(theirs, values) < 2e-6 and np.max(np.abs(theirs - values)) < 1e-7
    decaying = keras_schedules.CosineDecayRestarts(0.3, first_decay_steps=10, t_mul=1.5, m_mul=0.5, alpha=0.0)
    mine = cosine_restarts(0.3, 10, final_lr=0.0, cycle_mult=1.5, cycle_decay=0.5)
    theirs, values = keras_values(decaying, n), ours(mine, n)
    # The same float32 rounding is 2.5e-8 absolute; near a floor of 0 that is up to 2e-4 relative.
    big = values > 0.01
    assert relative_error(theirs[big], values[big]) < 2e-6 and np.max(np.abs(theirs - values)) < 1e-7
    # Pinned: with both a peak decay and a floor, Keras's m_mul scales the amplitude above the floor
    # (peak of cycle i = floor + (base - floor) m_mul^i); ours (like timm's cycle_decay) scales the
    # peak itself (base cycle_decay^i), the floor staying final_lr. With final_lr = 0 they agree (above).
    both = keras_schedules.CosineDecayRestarts(0.3, first_decay_steps=10, t_mul=1.0, m_mul=0.5, alpha=0.1)
    assert keras_values(both, 11)[10] == pytest.approx(0.03 + 0.27 * 0.5, rel=1e-6)
    assert cosine_restarts(0.3, 10, final_lr=0.03, cycle_decay=0.5)(10) == pytest.approx(0.15)


# --- MXNet ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mx_lr_scheduler():
    if not framework_installed("mxnet"):
        pytest.skip("mxnet not installed")
    pytest.importorskip("adapters.mxnet_adapter")  # imports MXNet behind its numpy.bool shim
    from mxnet import lr_scheduler

    return lr_scheduler


def test_mxnet_factor_with_step_is_step_one_update_later(mx_lr_scheduler):
    theirs = mx_lr_scheduler.FactorScheduler(step=24, factor=0.1, base_lr=0.3, stop_factor_lr=1e-12)
    values = np.array([theirs(t) for t in range(240)])
    mine = step_decay(0.3, 24, 0.1)
    # MXNet decays once num_update > count + step: it drops at t = 25, 49, ... where ours drops at 24, 48.
    assert values[24] == 0.3 and mine(24) == pytest.approx(0.03)
    assert relative_error(values[1:], ours(mine, 239)) < REL
    assert values[0] == 0.3


def test_mxnet_poly_scheduler_equals_polynomial(mx_lr_scheduler):
    theirs = mx_lr_scheduler.PolyScheduler(max_update=200, base_lr=0.3, pwr=2, final_lr=0.003)
    values = np.array([theirs(t) for t in range(240)])  # called in order, as a Trainer does
    assert relative_error(values, ours(polynomial(0.3, 200, 2.0, final_lr=0.003), 240)) < REL


# --- optax (not installed here: its published formulas, transcribed from optax/schedules/_schedule.py) ---


def optax_cosine_decay(init_value, decay_steps, alpha=0.0, exponent=1.0):
    def schedule(count):
        count = min(count, decay_steps)
        return init_value * ((1 - alpha) * (0.5 * (1 + np.cos(np.pi * count / decay_steps))) ** exponent + alpha)
    return schedule


def optax_exponential_decay(init_value, transition_steps, decay_rate, staircase=False, end_value=None):
    def schedule(count):
        p = count / transition_steps
        value = init_value if count <= 0 else init_value * decay_rate ** (np.floor(p) if staircase else p)
        return value if end_value is None else (max if decay_rate < 1 else min)(value, end_value)
    return schedule


def optax_linear_onecycle(transition_steps, peak_value, pct_start=0.3, pct_final=0.85, div_factor=25.0, final_div_factor=1e4):
    boundaries_and_scales = {int(pct_start * transition_steps): div_factor, int(pct_final * transition_steps): 1.0 / div_factor,
                             transition_steps: 1.0 / final_div_factor}
    boundaries, scales = zip(*sorted(boundaries_and_scales.items()))
    bounds = np.array((0,) + boundaries)
    values = np.cumprod((peak_value / div_factor,) + scales)

    def schedule(count):  # piecewise_interpolate_schedule("linear", ...)
        sizes = np.maximum(bounds[1:] - bounds[:-1], 1)
        inside = (bounds[:-1] <= count) & (count < bounds[1:])
        pct = (count - bounds[:-1]) / sizes
        return float(inside.dot((values[1:] - values[:-1]) * pct + values[:-1]) + (bounds[-1] <= count) * values[-1])
    return schedule


def optax_piecewise_constant(init_value, boundaries_and_scales):
    def schedule(count):
        v = init_value
        for threshold, scale in sorted(boundaries_and_scales.items()):
            indicator = max(0.0, np.sign(threshold - count))
            v = v * indicator + (1 - indicator) * scale * v
        return v
    return schedule


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0, 3.0])
def test_optax_cosine_decay_with_exponent(exponent):
    n = 240
    assert relative_error(ours(cosine(0.3, 0.003, 200, exponent=exponent), n), ours(optax_cosine_decay(0.3, 200, 0.01, exponent), n)) < REL
    # golden landmarks: start, middle ((1/2)^exponent of the way), horizon and past it
    mine = cosine(0.3, 0.0, 20, exponent=exponent)
    assert (mine(0), mine(20), mine(25)) == (pytest.approx(0.3), 0.0, 0.0)
    assert mine(10) == pytest.approx(0.3 * 0.5**exponent)


@pytest.mark.parametrize("staircase", [False, True])
def test_optax_exponential_decay_with_floor(staircase):
    n = 240
    theirs = optax_exponential_decay(0.3, 24, 0.5, staircase=staircase, end_value=0.01)
    mine = exponential(0.3, decay_rate=0.5, decay_steps=24, staircase=staircase, final_lr=0.01)
    assert relative_error(ours(mine, n), ours(theirs, n)) < REL
    assert mine(24 * 5) == 0.01 and mine(24 * 4) == pytest.approx(0.3 / 16)  # 0.3 / 32 < 0.01: floored from t = 120 on


@pytest.mark.parametrize("total", [10, 100, 7050])
def test_optax_linear_onecycle(total):
    n = total + 20
    theirs = ours(optax_linear_onecycle(total, 0.5), n)
    mine = linear_onecycle(0.5, total)
    assert relative_error(ours(mine, n), theirs) < REL
    a, b = int(0.3 * total), int(0.85 * total)
    assert (mine(0), mine(a), mine(b), mine(total)) == pytest.approx((0.02, 0.5, 0.02, 0.02 / 1e4), rel=1e-12)


def test_optax_piecewise_constant_switches_one_step_earlier():
    theirs = optax_piecewise_constant(0.3, {24: 1 / 3, 100: 0.1})
    mine = piecewise_constant(0.3, [24, 100], [0.1, 0.01])
    # optax scales once t >= b; ours (as Keras) once t > b: ours(t) == optax(t - 1).
    assert theirs(24) == pytest.approx(0.1) and mine(24) == 0.3
    assert relative_error(ours(mine, 240)[1:], ours(theirs, 239)) < REL
