"""Schedules: golden values at landmarks, properties, validation, and the d2l chapter's classes.

The chapter's scheduler classes are re-written below from its source
(chapter_optimization/lr-scheduler.md in d2l-ai/d2l-en); they are stateful, ours are pure.
Each test that compares the two states the difference.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from harness.schedules import (
    FACTORIES,
    build_schedule,
    constant,
    cosine,
    epoch_learning_rates,
    factor_decay,
    join_schedules,
    linear,
    multi_factor,
    resolve_lengths,
    sqrt_decay,
    warmup_cosine,
)

# --- The d2l chapter's classes, as published --------------------------------------------


class D2LSquareRootScheduler:
    def __init__(self, lr=0.1):
        self.lr = lr

    def __call__(self, num_update):
        return self.lr * pow(num_update + 1.0, -0.5)


class D2LFactorScheduler:
    def __init__(self, factor=1, stop_factor_lr=1e-7, base_lr=0.1):
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.base_lr = base_lr

    def __call__(self, num_update):
        self.base_lr = max(self.stop_factor_lr, self.base_lr * self.factor)
        return self.base_lr


class D2LCosineScheduler:
    """The chapter's PyTorch/TF re-implementation of MXNet's CosineScheduler."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0):
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.warmup_steps = warmup_steps
        self.warmup_begin_lr = warmup_begin_lr
        self.max_steps = self.max_update - self.warmup_steps

    def get_warmup_lr(self, epoch):
        increase = (self.base_lr_orig - self.warmup_begin_lr) * float(epoch) / float(self.warmup_steps)
        return self.warmup_begin_lr + increase

    def __call__(self, epoch):
        if epoch < self.warmup_steps:
            return self.get_warmup_lr(epoch)
        if epoch <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * (
                1 + math.cos(math.pi * (epoch - self.warmup_steps) / self.max_steps)
            ) / 2
        return self.base_lr


def test_d2l_hyperparameters_are_the_config_files():
    from omegaconf import OmegaConf

    from harness.paths import CONF_DIR
    from harness.schema import SchedulerConfig

    built = {}
    for name in ("constant", "sqrt", "factor", "multifactor", "cosine", "warmup"):
        cfg = OmegaConf.load(CONF_DIR / "scheduler" / f"{name}.yaml")
        built[name] = build_schedule(cfg.kind, SchedulerConfig.factory_params(cfg))
    assert [built["constant"](t) for t in (0, 29)] == [0.3, 0.3]
    assert built["sqrt"](0) == 0.1 and built["sqrt"](3) == pytest.approx(0.05)
    assert built["factor"](0) == 2.0 and built["factor"](1) == pytest.approx(1.8)
    assert built["multifactor"](15) == 0.5 and built["multifactor"](16) == 0.25
    assert built["cosine"](0) == 0.3 and built["cosine"](20) == pytest.approx(0.01)
    assert built["warmup"](0) == 0.0 and built["warmup"](5) == pytest.approx(0.3)


# --- Golden values at landmarks -------------------------------------------------------------


def test_constant():
    assert [constant(0.3)(t) for t in (0, 1, 1000)] == [0.3, 0.3, 0.3]


def test_sqrt_matches_d2l_exactly():
    ours, theirs = sqrt_decay(0.1), D2LSquareRootScheduler(0.1)
    assert [ours(t) for t in range(30)] == [theirs(t) for t in range(30)]
    assert ours(0) == 0.1 and ours(99) == pytest.approx(0.01)


def test_factor_is_d2l_shifted_by_one_and_stateless():
    ours = factor_decay(2.0, 0.9, 0.01)
    assert ours(0) == 2.0 and ours(1) == pytest.approx(1.8) and ours(10) == pytest.approx(2.0 * 0.9**10)
    # The floor: 2 * 0.9^t < 0.01 from t = 51 on.
    assert ours(50) > 0.01 and ours(51) == 0.01 and ours(500) == 0.01
    # Difference 1: d2l multiplies before returning, so its first value is 1.8, not 2.0:
    # its call number k returns our value at t = k + 1.
    d2l = D2LFactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
    assert [d2l(t) for t in range(60)] == pytest.approx([ours(t + 1) for t in range(60)], rel=1e-12)
    # Difference 2: d2l decays on every call, whatever t is; ours depends only on t.
    d2l = D2LFactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
    assert d2l(0) != d2l(0)
    assert ours(3) == ours(3)


def test_multi_factor_drops_after_each_milestone():
    ours = multi_factor(0.5, [15, 30], 0.5)
    assert [ours(t) for t in (0, 15, 16, 30, 31, 100)] == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


def test_cosine_landmarks_and_d2l_agreement():
    ours = cosine(0.3, 0.01, 20)
    assert ours(0) == 0.3
    assert ours(10) == pytest.approx(0.155)  # midpoint: (0.3 + 0.01) / 2
    assert ours(20) == pytest.approx(0.01) and ours(29) == 0.01
    d2l = D2LCosineScheduler(20, base_lr=0.3, final_lr=0.01)
    assert [d2l(t) for t in range(30)] == pytest.approx([ours(t) for t in range(30)], rel=1e-12)


def test_d2l_cosine_returns_a_stale_value_past_the_horizon():
    # d2l's class stores the value it computed last and returns it for any t > max_update,
    # so past the horizon its answer depends on which t it saw before; ours is final_lr.
    d2l = D2LCosineScheduler(20, base_lr=0.3, final_lr=0.01)
    assert d2l(10) == pytest.approx(0.155)
    assert d2l(25) == pytest.approx(0.155)  # stale
    assert cosine(0.3, 0.01, 20)(25) == 0.01
    # A fresh instance asked past the horizon has stored nothing yet and fails.
    with pytest.raises(AttributeError):
        D2LCosineScheduler(20, base_lr=0.3, final_lr=0.01)(25)


def test_warmup_cosine_landmarks_and_d2l_agreement():
    ours = warmup_cosine(0.3, 0.01, 20, 5)
    assert [ours(t) for t in range(6)] == pytest.approx([0.0, 0.06, 0.12, 0.18, 0.24, 0.3])
    assert ours(20) == pytest.approx(0.01) and ours(30) == 0.01
    # the cosine part spans total_steps - warmup_steps = 15: its midpoint is t = 12.5
    assert (ours(12) + ours(13)) / 2 == pytest.approx(0.155, rel=2e-2)
    d2l = D2LCosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01)
    assert [d2l(t) for t in range(30)] == pytest.approx([ours(t) for t in range(30)], rel=1e-12)


def test_join_restarts_the_clock_at_each_boundary():
    joined = join_schedules([constant(1.0), linear(0.0, 1.0, 10)], [5])
    assert [joined(t) for t in (0, 4, 5, 7, 15, 20)] == pytest.approx([1.0, 1.0, 0.0, 0.2, 1.0, 1.0])


# --- Properties -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [sqrt_decay(0.1), factor_decay(2.0, 0.9, 0.01), multi_factor(0.5, [3, 7], 0.5), cosine(0.3, 0.01, 20)],
    ids=["sqrt", "factor", "multifactor", "cosine"],
)
def test_decays_never_rise_and_stay_positive(schedule):
    values = np.array([schedule(t) for t in range(200)])
    assert np.all(np.diff(values) <= 0)
    assert np.all(values > 0)


def test_warmup_rises_then_never_rises():
    values = np.array([warmup_cosine(0.3, 0.01, 20, 5)(t) for t in range(40)])
    assert np.all(np.diff(values[:6]) > 0)
    assert np.all(np.diff(values[5:]) <= 0)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_pure_same_t_same_answer_in_any_call_order(kind):
    from omegaconf import OmegaConf

    from harness.paths import CONF_DIR
    from harness.schema import SchedulerConfig

    name = {"warmup_cosine": "warmup"}.get(kind, kind)
    cfg = OmegaConf.load(CONF_DIR / "scheduler" / f"{name}.yaml")
    params = resolve_lengths(cfg.kind, SchedulerConfig.factory_params(cfg), cfg.unit, epochs=30, updates_per_epoch=235)
    schedule = build_schedule(cfg.kind, params)
    forward = [schedule(t) for t in range(40)]
    backward = [schedule(t) for t in reversed(range(40))][::-1]
    assert forward == backward


# --- Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: constant(-0.1), "base_lr=-0.1"),
        (lambda: constant(0.0), "base_lr=0.0"),
        (lambda: sqrt_decay(float("nan")), "base_lr=nan"),
        (lambda: factor_decay(2.0, 1.5, 0.01), "factor=1.5"),
        (lambda: factor_decay(0.1, 0.9, 0.5), "final_lr=0.5"),
        (lambda: multi_factor(0.5, [30, 15], 0.5), "milestones=[30, 15]"),
        (lambda: multi_factor(0.5, [15, 15], 0.5), "milestones=[15, 15]"),
        (lambda: multi_factor(0.5, [-1, 15], 0.5), "milestones=[-1, 15]"),
        (lambda: cosine(0.3, 0.5, 20), "final_lr=0.5"),
        (lambda: cosine(0.3, 0.01, 0), "total_steps=0"),
        (lambda: warmup_cosine(0.3, 0.01, 20, 20), "warmup_steps=20"),
        (lambda: warmup_cosine(0.3, 0.01, 20, 25), "warmup_steps=25"),
        (lambda: build_schedule("cosin", {}), "kind='cosin'"),
        (lambda: build_schedule("cosine", {"base_lr": 0.3, "final_lr": 0.0, "total_steps": 5, "factor": 0.5}), "factor"),
        (lambda: build_schedule("cosine", {"base_lr": 0.3}), "total_steps"),
    ],
)
def test_invalid_arguments_name_the_value(make, needle):
    with pytest.raises(ValueError) as info:
        make()
    assert needle in str(info.value)


# --- Per-update learning rates for an epoch ---------------------------------------------------


def test_epoch_unit_repeats_the_epoch_value():
    lrs = epoch_learning_rates(cosine(0.3, 0.01, 20), "epoch", epoch=10, steps_per_epoch=235)
    assert lrs.shape == (235,) and np.all(lrs == cosine(0.3, 0.01, 20)(10))


def test_step_unit_counts_updates_across_epochs():
    schedule = cosine(0.3, 0.01, 1000)
    lrs = epoch_learning_rates(schedule, "step", epoch=2, steps_per_epoch=235)
    assert lrs[0] == schedule(470) and lrs[-1] == schedule(704)
    assert np.all(np.diff(lrs) < 0)


def test_unknown_unit_is_rejected():
    with pytest.raises(ValueError, match="unit='epochs'"):
        epoch_learning_rates(constant(0.1), "epochs", 0, 10)


# --- The schedule library: golden values at landmarks -----------------------------------------

from harness.schedules import (  # noqa: E402
    MOMENTUM_FACTORIES,
    build_momentum_schedule,
    constant_warmup,
    cosine_restarts,
    cyclic,
    cyclic_momentum,
    exponential,
    inverse_time,
    linear_decay,
    noam,
    onecycle,
    onecycle_momentum,
    polynomial,
    step_decay,
    warmup_linear,
    with_warmup,
    wsd,
)


def test_step_drops_at_each_multiple():
    s = step_decay(0.3, 10, 0.1)
    assert [s(t) for t in (0, 9)] == [0.3, 0.3]
    assert s(10) == pytest.approx(0.03) and s(19) == pytest.approx(0.03) and s(20) == pytest.approx(0.003)


def test_exponential_both_forms():
    assert exponential(0.1, gamma=0.9)(2) == pytest.approx(0.081)
    keras_form = exponential(0.1, decay_rate=0.5, decay_steps=10)
    assert keras_form(0) == 0.1 and keras_form(5) == pytest.approx(0.1 * 0.5**0.5) and keras_form(10) == pytest.approx(0.05)
    stairs = exponential(0.1, decay_rate=0.5, decay_steps=10, staircase=True)
    assert stairs(9) == 0.1 and stairs(10) == pytest.approx(0.05)


def test_inverse_time():
    s = inverse_time(0.1, 1.0, 10)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05) and s(30) == pytest.approx(0.025)
    assert inverse_time(0.1, 1.0, 10, staircase=True)(19) == pytest.approx(0.05)


def test_polynomial_and_linear_decay_end_at_final_lr():
    p = polynomial(0.1, 10, power=2.0)
    assert p(0) == 0.1 and p(5) == pytest.approx(0.025) and p(10) == 0.0 and p(15) == 0.0
    assert polynomial(0.1, 10, power=1.0, final_lr=0.01)(10) == pytest.approx(0.01)
    lin = linear_decay(0.3, 30)
    assert lin(0) == 0.3 and lin(15) == pytest.approx(0.15) and lin(29) == pytest.approx(0.01) and lin(30) == 0.0


def test_cosine_restarts_cycles_and_peaks():
    s = cosine_restarts(0.1, 10, final_lr=0.0, cycle_mult=2.0)
    assert s(0) == 0.1 and s(5) == pytest.approx(0.05)
    assert s(10) == 0.1 and s(20) == pytest.approx(0.05) and s(30) == 0.1 and s(70) == 0.1  # restarts at 10, 30, 70
    decaying = cosine_restarts(0.1, 10, cycle_decay=0.5)
    assert decaying(10) == pytest.approx(0.05) and decaying(20) == pytest.approx(0.025)
    warm = cosine_restarts(0.1, 10, final_lr=0.01, cycle_warmup_steps=2)
    assert warm(10) == pytest.approx(0.01) and warm(11) == pytest.approx(0.055) and warm(12) == pytest.approx(0.1)


def test_warmup_linear_is_bert():
    s = warmup_linear(1.0, 10, 2)
    assert [s(t) for t in (0, 1, 2, 3, 10, 12)] == pytest.approx([0.0, 0.5, 1.0, 0.875, 0.0, 0.0])


def test_constant_warmup_linear_and_cosine():
    assert [constant_warmup(0.3, 3)(t) for t in range(5)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.3])
    cos = constant_warmup(0.3, 4, warmup_shape="cosine")
    assert cos(0) == 0.0 and cos(2) == pytest.approx(0.15) and cos(4) == 0.3


def test_generic_warmup_in_front_of_any_schedule():
    s = with_warmup(step_decay(0.3, 10, 0.1), 5, warmup_begin_lr=0.03)
    assert s(0) == 0.03 and s(5) == 0.3 and s(14) == 0.3 and s(15) == pytest.approx(0.03)  # the step's clock starts at 5
    # Through the config: the horizon of a schedule defined by its length counts the warmup.
    built = build_schedule("cosine", {"base_lr": 0.3, "final_lr": 0.01, "total_steps": 20, "warmup_steps": 5})
    assert [built(t) for t in range(30)] == [warmup_cosine(0.3, 0.01, 20, 5)(t) for t in range(30)]


def test_noam_peak_and_paper_form():
    s = noam(0.01, 100)
    assert s(99) == pytest.approx(0.01) and s(0) == pytest.approx(0.0001) and s(399) == pytest.approx(0.005)
    paper = noam(1.0, 4000, d_model=512)
    assert paper(3999) == pytest.approx(512**-0.5 * 4000**-0.5)


@pytest.mark.parametrize("shape, middle", [("linear", 0.05), ("1-sqrt", 0.1 * (1 - 0.5**0.5)), ("cosine", 0.05)])
def test_wsd_warmup_stable_decay(shape, middle):
    s = wsd(0.1, 100, decay_fraction=0.2, decay_shape=shape, warmup_steps=10)
    assert s(0) == 0.0 and s(5) == pytest.approx(0.05) and s(10) == 0.1 and s(80) == 0.1
    assert s(90) == pytest.approx(middle) and s(100) == pytest.approx(0.0) and s(120) == pytest.approx(0.0)


@pytest.mark.parametrize("three_phase", [False, True])
def test_onecycle_landmarks_and_momentum_opposite(three_phase):
    rate = onecycle(1.0, 100, three_phase=three_phase)
    momentum = onecycle_momentum(100, three_phase=three_phase)
    assert rate(0) == pytest.approx(0.04) and rate(29) == 1.0 and rate(99) == pytest.approx(0.04 / 1e4)
    assert momentum(0) == 0.95 and momentum(29) == 0.85
    if three_phase:
        assert rate(58) == pytest.approx(0.04) and momentum(58) == 0.95 and momentum(99) == 0.95
    else:
        assert momentum(99) == 0.95
    rates, momenta = np.array([rate(t) for t in range(100)]), np.array([momentum(t) for t in range(100)])
    moving = (np.diff(momenta) != 0) & (np.diff(rates) != 0)
    assert np.all(np.sign(np.diff(rates))[moving] == -np.sign(np.diff(momenta))[moving])  # opposite to the rate
    assert np.argmax(rates) == np.argmin(momenta) == 29


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_landmarks_and_momentum(mode):
    rate, momentum = cyclic(0.01, 0.1, 10, mode=mode, gamma=0.99), cyclic_momentum(10, mode=mode, gamma=0.99)
    assert rate(0) == 0.01 and momentum(0) == 0.9 and rate(20) == pytest.approx(0.01)
    top = {"triangular": 0.1, "triangular2": 0.1, "exp_range": 0.01 + 0.09 * 0.99**10}[mode]
    assert rate(10) == pytest.approx(top) and momentum(10) == pytest.approx(0.9 - 0.1 * (top - 0.01) / 0.09)
    second_top = {"triangular": 0.1, "triangular2": 0.055, "exp_range": 0.01 + 0.09 * 0.99**30}[mode]
    assert rate(30) == pytest.approx(second_top)


def test_sequence_from_yaml_phases():
    s = build_schedule("sequence", {"base_lr": 0.3, "total_steps": 30, "boundaries": [20],
                                    "phases": [{"kind": "constant"}, {"kind": "linear_decay"}]})
    assert s(0) == 0.3 and s(19) == 0.3 and s(20) == 0.3 and s(25) == pytest.approx(0.15) and s(30) == 0.0
    with pytest.raises(ValueError, match=r"phases\[1\] \(cosine\): final_lr=0.5"):
        build_schedule("sequence", {"base_lr": 0.3, "total_steps": 30, "boundaries": [5], "phases": [{"kind": "constant"},
                                                                                   {"kind": "cosine", "final_lr": 0.5}]})


def test_resolve_lengths_follows_epochs_in_either_unit():
    assert resolve_lengths("onecycle", {"total_steps": None}, "step", 30, 235)["total_steps"] == 7050
    assert resolve_lengths("wsd", {"total_steps": None}, "epoch", 30, 235)["total_steps"] == 30
    assert resolve_lengths("cosine", {"total_steps": 20}, "epoch", 30, 235)["total_steps"] == 20  # given: kept
    assert resolve_lengths("step", {"step_size": 5}, "epoch", 30, 235) == {"step_size": 5}  # no horizon


def test_a_shared_horizon_is_ignored_by_schedules_without_one():
    assert build_schedule("constant", {"base_lr": 0.3, "total_steps": 3})(10) == 0.3
    with pytest.raises(ValueError, match="does not take"):
        build_schedule("constant", {"base_lr": 0.3, "factor": 0.5})


def test_momentum_schedule_only_where_it_cycles():
    assert set(MOMENTUM_FACTORIES) == {"onecycle", "cyclic"}
    assert build_momentum_schedule("cosine", {"base_lr": 0.3, "final_lr": 0.0, "total_steps": 5}) is None
    assert build_momentum_schedule("onecycle", {"base_lr": 0.5, "total_steps": 100, "cycle_momentum": False}) is None
    m = build_momentum_schedule("onecycle", {"base_lr": 0.5, "total_steps": 100, "cycle_momentum": True, "warmup_steps": 10})
    assert m(0) == m(9) == 0.95 and m(10 + 26) == 0.85  # waits during a generic warmup; the cycle spans 90 after it


# --- The schedule library: properties -------------------------------------------------------

# By option or kind: where the default's warmup ends (noam peaks at the w-th update, t = w - 1), and
# the options whose rate rises again after it (cycles, restarts).
WARMUPS = {"constant_warmup": 5, "warmup_linear": 3, "wsd": 2, "warmup_cosine": 5, "noam": 469, "chained": 5}
RISE_AGAIN = ("cosine_restarts", "cyclic", "onecycle", "linear_onecycle", "polynomial_cycle")


def _all_configured():
    from omegaconf import OmegaConf

    from harness.paths import CONF_DIR
    from harness.schema import SchedulerConfig

    for path in sorted((CONF_DIR / "scheduler").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        params = resolve_lengths(cfg.kind, SchedulerConfig.factory_params(cfg), cfg.unit, 30, 235)
        yield path.stem, cfg.kind, params, (30 if cfg.unit == "epoch" else 30 * 235)


CONFIGURED = list(_all_configured())


@pytest.mark.parametrize("name, kind, params, n", CONFIGURED, ids=[c[0] for c in CONFIGURED])
def test_every_option_is_finite_positive_and_pure(name, kind, params, n):
    schedule = build_schedule(kind, params)
    values = np.array([schedule(t) for t in range(n + 10)])
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert values.max() <= max(params["base_lr"], params.get("max_lr") or 0) + 1e-12
    assert [schedule(t) for t in reversed(range(n + 10))][::-1] == values.tolist()
    warmup = WARMUPS.get(name, WARMUPS.get(kind, 0))
    if warmup:  # warmup never falls
        assert np.all(np.diff(values[: warmup + 1]) >= 0)
    if name not in RISE_AGAIN and kind not in RISE_AGAIN:  # after the warmup, decays never rise
        assert np.all(np.diff(values[warmup:]) <= 1e-15)


def test_cycles_repeat():
    sgdr = cosine_restarts(0.3, 10, final_lr=0.01)
    assert [sgdr(t) for t in range(10)] == [sgdr(t) for t in range(10, 20)]
    tri = cyclic(0.01, 0.1, 7, 5)
    assert [tri(t) for t in range(12)] == pytest.approx([tri(t) for t in range(24, 36)], rel=1e-12)
    m = cyclic_momentum(7, 5)
    assert [m(t) for t in range(12)] == pytest.approx([m(t) for t in range(12, 24)], rel=1e-12)


# --- The schedule library: validation names the value -----------------------------------------


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: step_decay(0.3, 0, 0.1), "step_size=0"),
        (lambda: step_decay(0.3, 10, 1.5), "gamma=1.5"),
        (lambda: exponential(0.3), "give exactly one"),
        (lambda: exponential(0.3, decay_rate=0.5), "decay_rate needs decay_steps"),
        (lambda: inverse_time(0.3, 1.0, -3), "decay_steps=-3"),
        (lambda: polynomial(0.3, 10, final_lr=0.5), "final_lr=0.5"),
        (lambda: linear_decay(0.3, 0), "total_steps=0"),
        (lambda: cosine_restarts(0.3, 10, cycle_mult=0.5), "cycle_mult=0.5 (T_mult) must be >= 1"),
        (lambda: cosine_restarts(0.3, -1), "cycle_steps=-1"),
        (lambda: wsd(0.3, 30, decay_shape="sqrt"), "decay_shape='sqrt' is unknown"),
        (lambda: wsd(0.3, 30, decay_fraction=0.9, warmup_steps=10), "must fit in total_steps=30"),
        (lambda: onecycle(0.5, 100, pct_start=1.0), "pct_start=1.0 must be in (0, 1)"),
        (lambda: onecycle(0.5, 100, pct_start=0.0), "pct_start=0.0"),
        (lambda: onecycle(0.5, 100, base_momentum=0.95, max_momentum=0.85), "base_momentum=0.95 must be <= max_momentum=0.85"),
        (lambda: onecycle(0.5, 100, anneal="cosine"), "anneal='cosine' is unknown"),
        (lambda: cyclic(0.5, 0.05, 10), "max_lr=0.05 must be above base_lr=0.5"),
        (lambda: cyclic(0.05, 0.5, 10, mode="triangle"), "mode='triangle' is unknown"),
        (lambda: noam(0.3, 0), "warmup_steps=0"),
        (lambda: constant_warmup(0.3, 5, warmup_begin_lr=0.5), "warmup_begin_lr=0.5 must be >= 0 and below"),
        (lambda: constant_warmup(0.3, 5, warmup_shape="exp"), "warmup_shape='exp' is unknown"),
        (lambda: build_schedule("cosine", {"base_lr": 0.3, "final_lr": 0.0, "total_steps": 20, "warmup_steps": 20}), "warmup_steps=20"),
        (lambda: build_schedule("step", {"base_lr": 0.3, "step_size": 5, "warmup_begin_lr": 0.1}), "need warmup_steps > 0"),
        (lambda: build_schedule("sequence", {"base_lr": 0.3, "phases": [{"kind": "constant"}], "boundaries": [5]}), "1 phases need 0"),
    ],
)
def test_new_invalid_arguments_name_the_value(make, needle):
    with pytest.raises(ValueError) as info:
        make()
    assert needle in str(info.value)


# --- The registry: one place per schedule ---------------------------------------------------------


def _options_in_order() -> list[str]:
    """Every scheduler option, grouped by its kind in the registry's order (the option named after
    the kind or an alias first)."""
    from harness.schedules import option_order
    from harness.schema import scheduler_kinds

    options = scheduler_kinds()
    return sorted(options, key=lambda o: option_order(o, options[o]))


def test_every_option_is_a_registered_kind_and_every_kind_has_its_option():
    from harness.schedules import SCHEDULES
    from harness.schema import scheduler_kinds

    options = scheduler_kinds()
    assert sorted(set(options.values()) - set(SCHEDULES)) == [], "conf/scheduler/ names a kind no factory registers"
    for kind, info in SCHEDULES.items():
        assert {kind, *info.aliases} & set(options), f"kind={kind!r} has no conf/scheduler/{kind}.yaml"
    assert len(_options_in_order()) == len(options)


def test_scheduler_config_holds_exactly_the_factories_parameters():
    """The factories' signatures define the keys: SchedulerConfig (Hydra's typo check, the
    did-you-mean list, identity's defaults) must hold each, Optional with default None, and no other."""
    import dataclasses
    import typing

    from harness.identity import V1_KEYS
    from harness.schedules import SCHEDULES, parameters
    from harness.schema import MISSING, SchedulerConfig

    taken: dict[str, set] = {}
    for kind in SCHEDULES:
        for name, param in parameters(kind).items():
            taken.setdefault(name, set()).add(param.annotation)
    fields = {f.name: f for f in dataclasses.fields(SchedulerConfig)}
    hints = typing.get_type_hints(SchedulerConfig)
    own = {"name", "kind", "unit"}
    assert sorted(set(fields) - own - set(taken)) == [], "SchedulerConfig keys no factory takes"
    missing = sorted(set(taken) - set(fields))
    assert missing == [], f"add to SchedulerConfig: {missing} (Optional[...] = None)"
    for name in set(fields) - own:
        v1 = f"scheduler.{name}" in V1_KEYS
        assert fields[name].default is None or (v1 and fields[name].default == MISSING), name
        if not v1:
            assert type(None) in typing.get_args(hints[name]), f"{name} must be Optional"
        inner = [a for a in typing.get_args(hints[name]) if a is not type(None)] or [hints[name]]
        for annotation in taken[name]:  # the factory's type, as written (postponed annotations)
            base = str(annotation).split("|")[0].split("[")[0].strip()
            if base in ("bool", "str", "int"):
                assert inner[0] is {"bool": bool, "str": str, "int": int}[base], (name, annotation, inner)


def test_d2l_flag_is_what_the_d2l_tabs_reimplement():
    from harness.d2l_tabs import TRAINED_KINDS
    from harness.schedules import SCHEDULES

    assert {k for k, info in SCHEDULES.items() if info.d2l} == set(TRAINED_KINDS)


@pytest.mark.parametrize("preset", ["schedule_zoo", "schedule_zoo_quick"])
def test_zoo_presets_sweep_every_schedule(preset):
    """The presets sweep ``glob(*, exclude=[...])`` over conf/scheduler, so a new schedule joins the zoo
    with no edit here; Hydra's YAML cannot read the registry, so this test holds the exclusions to it:
    every option of every schedule registered with zoo=True, once, and nothing else."""
    import yaml

    from harness.paths import EXPERIMENTS_DIR
    from harness.preflight import expand_runs
    from harness.schedules import SCHEDULES
    from harness.schema import scheduler_kinds

    swept = yaml.safe_load((EXPERIMENTS_DIR / f"{preset}.yaml").read_text())["hydra"]["sweeper"]["params"]["scheduler"]
    assert swept.startswith("glob(*"), swept
    options = [run[0].split("=", 1)[1] for run in expand_runs(["-m", f"scheduler={swept}"])]
    expected = [o for o in _options_in_order() if SCHEDULES[scheduler_kinds()[o]].zoo]
    assert sorted(options) == sorted(expected), f"experiments/{preset}.yaml: exclude the options registered zoo=False"


def test_docs_table_lists_every_option_once():
    from harness.paths import PROJECT_ROOT
    from harness.schema import scheduler_kinds

    text = (PROJECT_ROOT / "docs" / "schedules.md").read_text()
    table = text.split("## Every schedule", 1)[1].split("\n\n")[1:4]
    rows = [line for block in table for line in block.splitlines() if line.startswith("| `")]
    named = [name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])]
    assert sorted(named) == sorted(scheduler_kinds()), "docs/schedules.md's table: one row per conf/scheduler option"


def test_every_native_counterpart_is_compared_in_a_parity_test():
    from harness.paths import PROJECT_ROOT
    from harness.schedules import SCHEDULES

    sources = "".join((PROJECT_ROOT / "tests" / f).read_text()
                      for f in ("test_native_schedules.py", "test_framework_schedulers.py", "test_plateau.py"))
    for kind, info in SCHEDULES.items():
        for native in info.native:
            assert f"{native.rsplit('.', 1)[1]}(" in sources, f"{kind}: {native} is named but compared nowhere"


def test_a_misspelled_parameter_is_suggested_from_the_factorys_signature():
    from harness.suggest import closest_key

    with pytest.raises(ValueError, match=r"does not take \['exponet'\] \(did you mean 'exponent'\?\)"):
        build_schedule("cosine", {"base_lr": 0.3, "final_lr": 0.0, "total_steps": 10, "exponet": 2.0})
    assert closest_key("scheduler.pct_finl") == "scheduler.pct_final" and closest_key("exponent") == "scheduler.exponent"
