"""The range test's arithmetic on synthetic curves: fastai's grid and window, smoothing, the stop
rule (4x the best, or a loss not finite), the rules (fastai's valley, slide, minimum; our steep and
first rise), and a collapse to chance told from a divergence."""

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


def test_exponential_rates_are_fastais_grid():
    # fastai: update i uses start * (end/start) ** (i / num_it), i = 0 .. num_it - 1 (LRFinder.before_batch
    # reads train_iter before TrainEvalCallback increments it): end_lr itself is never used.
    lrs = lf.exponential_rates()
    assert len(lrs) == 100 and lrs[0] == pytest.approx(1e-7)
    assert lrs[-1] == pytest.approx(10.0 * 10 ** (-8 / 100)) and lrs[-1] == pytest.approx(8.318, rel=1e-3)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] == pytest.approx(10 ** (8 / 100))
    assert lrs[50] == pytest.approx(1e-3)  # halfway through the updates, halfway through the decades


def test_window_is_fastais_slice():
    # fastai: recorder.lrs[num_it//10:-5]: a tenth of the *planned* updates, the last 5 recorded
    # always dropped, whether the 4x stop fired or not.
    assert lf.window(100, 100) == (10, 95)
    assert lf.window(40, 100) == (10, 35)  # stopped after 40 of 100
    assert lf.window(300, 300) == (30, 295)
    assert lf.window(12, 100) == (10, 10)  # stopped too early: nothing to read
    collapse = lf.Collapse(60, 0.2, 1.0, 0.1, math.log(10))
    assert lf.window(100, 100, collapse) == (10, 60)  # the useful range ends at a collapse
    assert lf.window(100, 100, collapse, end=40) == (10, 40)  # ... and at an adaptive optimizer's first rise
    assert lf.window(100, 100, None, end=99) == (10, 95)


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
    assert s["steep"].lr < s["first_rise"].lr and s["valley"].lr < s["first_rise"].lr
    # Recommended: the smoothed minimum's rate (the edge, where the loss turns up) / 3.
    low = int(np.argmin(smoothed[found.window[0]:found.window[1]])) + found.window[0]
    assert found.rule == "minimum/3" and found.edge == lrs[low] and found.lr == pytest.approx(lrs[low] / 3)
    assert s["minimum"].lr == pytest.approx(lrs[low] / 10)  # fastai's minimum/10, from the same point
    assert found.reason == (f"the smoothed loss was lowest, {smoothed[low]:.3g}, at rate {lrs[low]:.3g}, then rose "
                            f"until the test stopped; minimum/3 = {lrs[low] / 3:.3g}")


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
    assert found.rule == "minimum/3" and 1e-2 < found.lr < 0.3, found
    assert 10**-3.5 < found.suggestions["steep"].lr < 0.3, found.suggestions["steep"]


def test_never_rises():
    lrs = lf.exponential_rates(1e-7, 1e-2)
    smoothed, stopped = record(model_loss(lrs))
    assert not stopped and len(smoothed) == 100
    found = lf.recommend(lrs, smoothed, stopped, losses=model_loss(lrs), num_classes=10)
    assert found.suggestions["first_rise"] is None and found.collapse is None
    assert found.lr is not None and found.reason == (
        f"the smoothed loss fell up to the last rate, lr 0.00891, and never rose: minimum/3 = {found.lr:.3g} "
        "is a lower bound: raise end_lr")


def test_diverges_at_the_first_update():
    lrs = lf.exponential_rates(1.0, 1e3, 100)
    raw = model_loss(lrs) * 10 ** np.arange(100)  # blows up from the first update
    smoothed, stopped = record(raw)
    assert stopped and len(smoothed) <= 3
    found = lf.recommend(lrs[: len(smoothed)], smoothed, stopped)
    assert found.lr is None and "lower start_lr" in found.reason
    assert found.reason.startswith(f"the smoothed loss passed 4x its best after {len(smoothed)} updates")
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


def fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """fastai's slide (fastai/callback/schedule.py) transcribed with its negative indices."""
    loss_grad = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while (l_idx >= -len(losses)) and (abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh):
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr) * adjust_value


@pytest.mark.parametrize("seed", range(6))
def test_slide_is_fastais(seed):
    rng = np.random.default_rng(seed)
    lrs = lf.exponential_rates()[10:95]
    curve = model_loss(lrs) * (1 + 0.05 * rng.standard_normal(len(lrs)))
    smoothed = lf.smooth(curve)
    index, lr = lf.slide(lrs, smoothed)
    assert lr == fastai_slide(lrs, smoothed) and lrs[index] == lr


def test_slide_golden_and_short():
    # Slopes per update: 0 on the first 20 points, -0.1 on the last 20 (a line), a kink between.
    # Walking left from the end, |grad[r] - grad[r - 15]| is 0 while both sit on the line, so the
    # first comparison already stops the walk: the suggestion is the first left index, n - 16.
    losses = np.concatenate([np.full(20, 2.0), 2.0 - 0.1 * np.arange(1, 21)])
    lrs = np.geomspace(1e-4, 1.0, 40)
    assert lf.slide(lrs, losses) == (24, float(lrs[24]))
    # A curve bending all the way (slopes all different by more than thresh): the walk runs off the
    # start and the suggestion is the last left index reached, 0.
    bent = 2.0 - 0.01 * np.arange(40) ** 2
    assert lf.slide(lrs, bent) == (0, float(lrs[0])) == (0, fastai_slide(lrs, bent))
    assert lf.slide(lrs[:15], losses[:15]) is None  # fewer than lr_diff + 1 points: fastai raises


def collapsing_loss(lr, collapse_at=0.5):
    """The LeNet's curve on fastai's grid: at chance, a descent, a floor near 0.6, then (past
    ``collapse_at``) a spike and the loss of uniform predictions, ln 10, for good."""
    x = np.log10(lr)
    loss = 0.6 + (math.log(10) - 0.6) / (1 + np.exp(4 * (x + 1.5)))
    after = lr > collapse_at
    loss = np.where(after, math.log(10), loss)
    first = int(np.argmax(after))
    loss[first] = 2.8  # the spike where it dies
    return loss


def test_collapse_to_chance_ends_the_useful_range():
    lrs = lf.exponential_rates(1e-4, 10.0, 300)
    raw = collapsing_loss(lrs)
    smoothed, stopped = record(raw)
    assert not stopped and len(smoothed) == 300  # ln 10 is not 4x a loss of 0.6: the stop never fires
    plain = lf.recommend(lrs, smoothed, stopped, num_updates=300)  # without the raw losses: fastai's view
    found = lf.recommend(lrs, smoothed, stopped, num_updates=300, losses=raw, num_classes=10)
    c = found.collapse
    assert c is not None and c.chance == pytest.approx(math.log(10))
    # The raw loss is back at chance at the first rate above 0.5; the smoothed curve only gets
    # halfway back ~35 updates (0.5 decade) later, and the collapse rate is the raw one.
    assert c.lr == float(lrs[lrs > 0.5][0]) and c.index == int(np.argmax(lrs > 0.5))
    assert c.fell_to == pytest.approx(float(smoothed.min()))
    assert found.window == (30, c.index)
    assert found.rule == "collapse/3" and found.lr == pytest.approx(c.lr / 3) and found.edge == c.lr
    assert f"then the network died at rate {c.lr:.3g}" in found.reason
    assert found.reason.endswith(f"for good); collapse/3 = {c.lr / 3:.3g}")
    assert "raise end_lr" not in found.reason
    # Every rule reads only the rates before the collapse.
    assert all(s.lr < c.lr for r, s in found.suggestions.items() if s and r != "first_rise")
    assert plain.collapse is None and plain.window == (30, 295)


def test_a_divergence_is_not_a_collapse():
    # Falls to 0.4, then blows up past lr 1: the smoothed loss passes chance on its way up to 4x.
    lrs = lf.exponential_rates()
    raw = model_loss(lrs)
    smoothed, stopped = record(raw)
    assert stopped
    found = lf.recommend(lrs[: len(smoothed)], smoothed, stopped, num_updates=100, losses=raw[: len(smoothed)],
                         num_classes=10)
    assert found.collapse is None and found.rule == "minimum/3"
    assert found.window == (10, len(smoothed) - 5)


def test_a_loss_that_rises_above_chance_and_stays_is_not_a_collapse():
    # Adam on this LeNet: falls to ~1.1, then spikes and sits near 3.0, above ln 10 by 30 %:
    # worse than uniform predictions, and not 4x the best either.
    lrs = lf.exponential_rates()
    raw = np.where(lrs < 0.15, collapsing_loss(lrs, 100.0), 3.0)
    smoothed, stopped = record(raw)
    found = lf.recommend(lrs, smoothed, stopped, losses=raw, num_classes=10)
    assert not stopped and found.collapse is None and found.rule == "minimum/3"
    rise = found.suggestions["first_rise"]
    assert rise is not None and rise.lr < 1.0
    # An adaptive optimizer: the window ends at the first rise, and the edge is divided by 10.
    adam = lf.recommend(lrs, smoothed, stopped, losses=raw, num_classes=10, adaptive=True)
    assert adam.window == (10, rise.index) and adam.rule == "minimum/10"
    low = 10 + int(np.argmin(smoothed[10:rise.index]))
    assert adam.edge == lrs[low] and adam.lr == pytest.approx(lrs[low] / 10)
    assert adam.lr == pytest.approx(adam.suggestions["minimum"].lr)  # fastai's minimum/10 itself
    assert "the window ends at that first rise" in adam.reason


def test_never_learning_is_not_a_collapse():
    rng = np.random.default_rng(1)
    lrs = lf.exponential_rates()
    raw = math.log(10) + 0.01 * rng.standard_normal(100)  # noise around chance, no fall
    smoothed, stopped = record(raw)
    found = lf.recommend(lrs, smoothed, stopped, losses=raw, num_classes=10)
    assert found.collapse is None


def test_a_shallow_fall_then_collapse_is_found():
    # fastai's 100 updates on the full training set: the smoothed loss only dips 0.02 below chance
    # (to 2.28) before the spike at lr 0.21, then sits at 2.30: measured in torch, TF and MXNet.
    lrs = lf.exponential_rates()
    x = np.log10(lrs)
    raw = math.log(10) + 0.025 - 0.45 / (1 + np.exp(-5 * (x + 1)))  # raw 2.0 at lr 0.15
    first = int(np.argmax(lrs > 0.2))
    raw[first], raw[first + 1:] = 2.9, math.log(10)
    smoothed, stopped = record(raw)
    found = lf.recommend(lrs, smoothed, stopped, losses=raw, num_classes=10)
    assert 2.28 < smoothed.min() < 2.29
    assert found.collapse is not None and found.collapse.lr == pytest.approx(lrs[first])
    assert found.lr == pytest.approx(lrs[first] / 3) and "raise end_lr" not in found.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_ends_the_test_and_no_rule_reads_it(bad):
    lrs = lf.exponential_rates()
    raw = model_loss(lrs)
    raw[60] = bad
    smoothed, stopped = record(raw)
    smoother = lf.Smoother()
    for loss in raw[:61]:
        smoother.add(float(loss))
    assert stopped and len(smoothed) == 61 and smoother.stop == lf.NOT_FINITE == "loss not finite"
    found = lf.recommend(lrs[:61], smoothed, stopped, num_updates=100, losses=raw[:61], num_classes=10)
    assert found.window == (10, 56) and found.lr is not None and found.rule == "minimum/3"
    assert all(math.isfinite(s.loss) for s in found.suggestions.values() if s)


def test_a_non_finite_loss_at_the_start_gives_no_suggestion():
    lrs = lf.exponential_rates(1.0, 1e12, 20)
    raw = np.array([2.3, 2.2, math.nan])
    smoothed, stopped = record(raw)
    assert stopped and len(smoothed) == 3
    found = lf.recommend(lrs[:3], smoothed, stopped, num_updates=20, losses=raw, num_classes=10)
    assert found.lr is None and found.collapse is None
    assert all(s is None for s in found.suggestions.values())
    assert found.reason.startswith("the loss was not finite at update 2 (lr 15.8)") and "lower start_lr" in found.reason


def test_a_spike_the_network_recovers_from_is_not_its_death():
    """Momentum 0.9 at batch 1024 (measured, docs/finding_the_rate.md): the raw loss spikes to 4.8
    at lr 0.03 and sits near chance for ten updates, learns again (1.6 at lr 0.1), and dies for good
    at lr 0.12. The useful range ends at the death, not at the spike."""
    lrs = lf.exponential_rates(1e-5, 10.0, 147)
    x = np.log10(lrs)
    raw = math.log(10) - 1.0 / (1 + np.exp(-4 * (x + 1.8)))  # falls to ~1.3 by lr 0.05
    spike, again, death = (int(np.argmax(lrs > r)) for r in (0.024, 0.035, 0.12))
    raw[spike:spike + 3] = [2.5, 3.4, 4.8]
    raw[spike + 3:again] = math.log(10) - 0.02
    raw[again:death] = 1.6
    raw[death], raw[death + 1:] = 4.7, math.log(10) + 0.01
    smoothed, stopped = record(raw)
    found = lf.recommend(lrs, smoothed, stopped, losses=raw, num_classes=10)
    assert found.collapse is not None and found.collapse.index == death and found.collapse.lr == lrs[death]
    assert found.rule == "collapse/3" and found.lr == pytest.approx(lrs[death] / 3)
    # Dead for good needs COLLAPSE_MIN_AFTER raw losses after the last sign of life.
    short = death + lf.COLLAPSE_MIN_AFTER - 1
    assert lf.find_collapse(lrs[:short], raw[:short], smoothed[:short], math.log(10), 14) is None


def test_the_stop_reason_is_one_phrase():
    smoother = lf.Smoother(beta=0.0)
    for loss in (1.0, 4.5):
        smoother.add(loss)
    assert smoother.stop == lf.above() == "smoothed loss above 4x its best"
    assert lf.OLD_STOPS == {"diverged": lf.above(), "not finite": lf.NOT_FINITE}
