"""The range test's arithmetic on synthetic curves: smoothing, the stop rule, the four rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import lr_finder as lf


def model_loss(lr):
    """A loss against rate like a real one: flat at chance, a descent centred on 10^-2.5,
    a floor, then a blow-up past lr ~2."""
    x = np.log10(lr)
    return 0.4 + 1.9 / (1 + np.exp(3 * (x + 2.5))) + np.exp(8 * x)


def record(raw_losses):
    """What the command records: the smoothed loss and the stop, update by update."""
    smoother = lf.Smoother()
    smoothed = []
    for loss in raw_losses:
        smoothed.append(smoother.add(float(loss)))
        if smoother.stopped:
            break
    return np.array(smoothed), smoother.stopped


def test_exponential_rates_are_fastais_range_with_a_constant_ratio():
    lrs = lf.exponential_rates()
    assert len(lrs) == 100 and lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] == pytest.approx(10 ** (8 / 99))


def test_bias_corrected_smoothing():
    # Bias correction: a constant loss is smoothed to itself from the first update on.
    assert np.allclose(lf.smooth([2.0] * 5), 2.0)
    beta = lf.SMOOTHING
    expected_second = (beta * (1 - beta) * 1.0 + (1 - beta) * 3.0) / (1 - beta**2)
    assert lf.smooth([1.0, 3.0])[1] == pytest.approx(expected_second)


def test_stop_rule_fires_at_four_times_the_best_or_a_nan():
    smoother = lf.Smoother(beta=0.0)  # no smoothing: the rule itself
    for loss in (1.0, 0.5, 1.9):
        smoother.add(loss)
    assert not smoother.stopped
    smoother.add(2.01)
    assert smoother.stopped
    smoother = lf.Smoother()
    smoother.add(1.0)
    smoother.add(math.nan)
    assert smoother.stopped


def test_clean_valley():
    lrs = lf.exponential_rates()
    smoothed, stopped = record(model_loss(lrs))
    assert stopped and len(smoothed) < 100
    found = lf.recommend(lrs[: len(smoothed)], smoothed, stopped)
    s = found.suggestions
    # The true descent is centred on 10^-2.5 and the true minimum is near 0.3. The smoothed
    # loss lags the raw one (beta 0.98 remembers ~50 updates, 4 decades of this range), so
    # `steep` and `minimum` land later; on a noiseless curve the longest descent starts at the
    # first update, so `valley` lands low, in the flat part (fastai's rule, as it is).
    assert 10**-3 < s["steep"].lr < 10**-1, s["steep"]
    assert 1e-4 < s["valley"].lr < 1.0, s["valley"]
    assert 1e-2 < s["minimum"].lr < 0.3, s["minimum"]
    assert 0.3 < s["first_rise"].lr < 10, s["first_rise"]
    assert found.rule == "valley" and found.lr == s["valley"].lr
    assert s["steep"].lr < s["first_rise"].lr and s["valley"].lr < s["first_rise"].lr


def test_steep_respects_the_rate_spacing():
    # Half the points crowd one decade: per index, the crowded part looks flat and the sparse
    # part steep. Against log(rate), the steepest point is where the loss really falls fastest.
    lrs = np.concatenate([np.geomspace(1e-4, 1e-3, 50, endpoint=False), np.geomspace(1e-3, 1e1, 50)])
    x = np.log10(lrs)
    loss = 2.0 - 0.5 * np.tanh(2 * (x + 3.5))  # steepest at 10^-3.5, inside the crowded decade
    index = lf.steepest(lrs, loss)
    assert lrs[index] == pytest.approx(10**-3.5, rel=0.1)
    per_index = int(np.argmin(np.diff(loss)))  # what a rule without the spacing would pick
    assert lrs[per_index] >= 1e-3  # in the sparse part: 10x off


def test_noisy_valley():
    lrs = lf.exponential_rates()
    rng = np.random.default_rng(0)
    raw = model_loss(lrs) * (1 + 0.15 * rng.standard_normal(len(lrs)))
    smoothed, stopped = record(raw)
    found = lf.recommend(lrs[: len(smoothed)], smoothed, stopped)
    # The smoothed curve lags the raw one, so suggestions move up a little; still inside the floor.
    assert found.rule == "valley" and 1e-3 < found.lr < 1.0, found
    assert 10**-3.5 < found.suggestions["steep"].lr < 0.3, found.suggestions["steep"]


def test_never_rises():
    lrs = lf.exponential_rates(1e-7, 1e-2)
    smoothed, stopped = record(model_loss(lrs))
    assert not stopped and len(smoothed) == 100
    found = lf.recommend(lrs, smoothed, stopped)
    assert found.suggestions["first_rise"] is None
    assert found.lr is not None and "lower bound: raise end_lr" in found.reason


def test_diverges_at_the_first_update():
    lrs = lf.exponential_rates(1.0, 1e3, 100)
    raw = model_loss(lrs) * 10 ** np.arange(100)  # blows up from the first update
    smoothed, stopped = record(raw)
    assert stopped and len(smoothed) <= 3
    found = lf.recommend(lrs[: len(smoothed)], smoothed, stopped)
    assert found.lr is None and "lower start_lr" in found.reason
    assert all(s is None for s in found.suggestions.values())


@pytest.mark.parametrize("start, end, n, message", [
    (1e-3, 1e-3, 100, "start_lr=0.001 must be below end_lr=0.001"),
    (1.0, 0.1, 100, "must be below end_lr"),
    (0.0, 1.0, 100, "start_lr=0.0 must be a positive finite"),
    (1e-7, -1.0, 100, "end_lr=-1.0 must be a positive finite"),
    (1e-7, 10.0, 9, "num_updates=9 must be at least 10"),
])
def test_bad_ranges(start, end, n, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        lf.exponential_rates(start, end, n)


def test_steep_is_not_fooled_by_one_noisy_point():
    # A descent of 1.0 over about 1.5 decades, and one early point 0.1 low: a two-point
    # difference calls the noise the steepest place; a slope over 5 points does not.
    lrs = lf.exponential_rates()
    x = np.log10(lrs)
    loss = 2.3 - 1.0 / (1 + np.exp(-3 * (x + 2)))
    loss[30] -= 0.1
    two_point = int(np.argmin(np.diff(loss) / np.diff(np.log(lrs))))
    assert two_point in (29, 30)
    assert 10**-3 < lrs[lf.steepest(lrs, loss)] < 10**-1
