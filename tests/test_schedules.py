"""Schedules: golden values at landmarks, properties, validation, and the d2l chapter's classes.

The chapter's scheduler classes are re-written below from its source
(chapter_optimization/lr-scheduler.md in d2l-ai/d2l-en); they are stateful, ours are pure.
Each test that compares the two states the difference.
"""

from __future__ import annotations

import math

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

    from harness.config import CONF_DIR, SchedulerConfig

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

    from harness.config import CONF_DIR, SchedulerConfig

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
