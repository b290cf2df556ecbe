"""Verdicts from synthetic curves: one per verdict, then each threshold from both sides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import verdicts as v
from harness.verdicts import judge

N = 30
T = np.arange(N, dtype=np.float64)


def curves(train_loss, test_loss=None, train_acc=None, test_acc=None, status="complete", **extra):
    train_loss = np.asarray(train_loss, dtype=np.float64)
    test_loss = train_loss * 1.1 if test_loss is None else np.asarray(test_loss, dtype=np.float64)
    train_acc = np.clip(1 - train_loss / 3, 0, 1) if train_acc is None else np.asarray(train_acc, dtype=np.float64)
    test_acc = train_acc - 0.02 if test_acc is None else np.asarray(test_acc, dtype=np.float64)
    n = len(train_loss)
    return {"epoch": list(range(n)), "train_loss": train_loss.tolist(), "test_loss": test_loss.tolist(),
            "train_acc": train_acc.tolist(), "test_acc": test_acc.tolist(), "status": [status] * n, **extra}


def decaying(floor=0.2, scale=1.0, tau=12.0):
    return floor + scale * np.exp(-T / tau)


def test_converging():
    found = judge(curves(decaying()))
    assert found.verdict == "converging", found
    assert found.numbers["train_improvement"] > v.PLATEAU_IMPROVEMENT


def test_plateaued():
    loss = np.maximum(decaying(tau=2.0), 0.2 + 1e-4)  # flat from about epoch 10 on
    found = judge(curves(loss))
    assert found.verdict == "plateaued", found
    assert found.numbers["train_improvement"] < v.PLATEAU_IMPROVEMENT


def test_a_train_loss_that_rose_is_said_to_have_risen():
    loss = np.concatenate([decaying(tau=2.0)[:20], np.linspace(0.2, 0.2 * 1.0763, 10)])  # +7.63 % lately
    found = judge(curves(loss))
    assert found.verdict == "plateaued", found
    assert found.reason.startswith("train_loss rose 7.") and "fell" not in found.reason, found.reason


def test_oscillating():
    loss = decaying() * (1 + 0.15 * np.where(T % 2 == 0, 1, -1))
    found = judge(curves(loss))
    assert found.verdict == "oscillating", found
    assert found.numbers["train_swing"] > v.OSCILLATION_TRAIN


def test_overfitting_by_rising_test_loss():
    test_loss = 0.4 + 0.002 * (T - 10) ** 2  # minimum at epoch 10, 0.4 -> 1.2
    found = judge(curves(decaying(), test_loss=test_loss, test_acc=np.full(N, 0.85)))
    assert found.verdict == "overfitting", found
    assert found.numbers["best_test_epoch"] == 10


def test_overfitting_by_widening_accuracy_gap():
    train_acc = np.linspace(0.80, 0.99, N)
    test_acc = np.full(N, 0.85)
    found = judge(curves(decaying(), test_loss=np.linspace(0.5, 0.45, N), train_acc=train_acc, test_acc=test_acc))
    assert found.verdict == "overfitting", found
    assert found.numbers["gap_growth"] > v.OVERFIT_GAP


def test_diverged_by_status_and_by_nan():
    assert judge(curves(decaying(), status="diverged")).verdict == "diverged"
    loss = decaying()
    loss[-1] = math.nan
    assert judge(curves(loss, status="complete")).verdict == "diverged"
    loss[-1] = 2 * v.DIVERGED_LOSS
    assert judge(curves(loss, status="complete")).verdict == "diverged"


def test_never_learned():
    found = judge(curves(np.full(N, 2.3026), train_acc=np.full(N, 0.099), test_acc=np.full(N, 0.1)))
    assert found.verdict == "never_learned", found
    assert found.numbers["chance"] == pytest.approx(0.1)


def test_validation_curves_win_over_test_curves():
    val_loss = (0.4 + 0.002 * (T - 10) ** 2).tolist()
    found = judge(curves(decaying(), val_loss=val_loss, val_acc=[0.85] * N, test_acc=np.full(N, 0.85)))
    assert found.verdict == "overfitting" and "val_loss_rise" in found.numbers
    # A split that was not set (all null) falls back to the test set.
    found = judge(curves(decaying(), val_loss=[None] * N, val_acc=[None] * N))
    assert found.verdict == "converging" and "test_loss_rise" in found.numbers


# --- borderline cases: each threshold, just below and just above ------------------------------

@pytest.mark.parametrize("accuracy, expected", [(0.1 + v.CHANCE_MARGIN, "never_learned"),
                                                (0.1 + v.CHANCE_MARGIN + 0.01, "converging")])
def test_chance_margin(accuracy, expected):
    found = judge(curves(decaying(), train_acc=np.full(N, accuracy), test_acc=np.full(N, accuracy)))
    assert found.verdict == expected, found


@pytest.mark.parametrize("factor, expected", [(0.9, "converging"), (1.1, "oscillating")])
def test_oscillation_threshold(factor, expected):
    # A sign-alternating wiggle of amplitude a over an even window of w epochs: its closest monotone
    # curve keeps the first and last points and pools the rest to their mean, leaving a standard
    # deviation of a * sqrt((w - 2) / w) (a little less on this slowly falling mean).
    w = v.window_size(N)
    loss = decaying(floor=1.0, scale=0.5, tau=30.0)
    amplitude = v.OSCILLATION_TRAIN * factor * np.mean(loss[-w:]) / math.sqrt((w - 2) / w)
    wiggle = np.where(T % 2 == 0, 1.0, -1.0) * amplitude
    found = judge(curves(loss + wiggle, test_loss=np.full(N, 1.2)))
    assert found.verdict == expected, found
    assert (found.numbers["train_swing"] > v.OSCILLATION_TRAIN) == (expected == "oscillating")


@pytest.mark.parametrize("rise, expected", [(v.OVERFIT_RISE - 0.01, "converging"), (v.OVERFIT_RISE + 0.01, "overfitting")])
def test_overfit_rise_threshold(rise, expected):
    test_loss = np.full(N, 0.5)
    test_loss[15:] = np.linspace(0.5, 0.5 * (1 + rise), N - 15)
    test_loss[14] = 0.5 - 1e-6  # the minimum
    found = judge(curves(decaying(), test_loss=test_loss, train_acc=np.full(N, 0.9), test_acc=np.full(N, 0.88)))
    assert found.verdict == expected, found


def test_rising_test_loss_with_rising_train_loss_is_not_overfitting():
    train = decaying()
    train[-10:] = np.linspace(train[-11], train[-11] * 1.05, 10)  # train loss rises too (but not a plateau check)
    test_loss = 0.4 + 0.002 * (T - 10) ** 2
    found = judge(curves(train, test_loss=test_loss, train_acc=np.full(N, 0.9), test_acc=np.full(N, 0.88)))
    assert found.verdict != "overfitting", found


@pytest.mark.parametrize("improvement, expected", [(v.PLATEAU_IMPROVEMENT * 0.9, "plateaued"),
                                                   (v.PLATEAU_IMPROVEMENT * 1.1, "converging")])
def test_plateau_threshold(improvement, expected):
    w = v.window_size(N)
    loss = np.full(N, 0.5)
    loss[: N - w] = np.linspace(1.5, 0.5, N - w)
    loss[N - w:] = np.linspace(0.5, 0.5 * (1 - improvement), w)
    found = judge(curves(loss, test_loss=loss * 1.1, train_acc=np.full(N, 0.9), test_acc=np.full(N, 0.88)))
    assert found.verdict == expected, found


def test_short_runs():
    assert v.window_size(30) == 10 and v.window_size(5) == 3 and v.window_size(2) == 2
    found = judge(curves([1.0, 0.8]))
    assert found.verdict == "too_short", found
    assert "only 2 epochs" in found.reason
    assert judge(curves([2.3026], train_acc=[0.1], test_acc=[0.1])).verdict == "never_learned"


# The cases issue 24 found, and the rows issue 21's divergent runs write.

def test_learned_then_fell_to_chance_is_collapsed_not_never_learned():
    acc = np.concatenate([np.linspace(0.5, 0.85, 20), np.full(10, 0.1)])
    loss = np.concatenate([np.linspace(1.5, 0.4, 20), np.full(10, 2.3026)])
    found = judge(curves(loss, test_loss=loss, train_acc=acc, test_acc=acc))
    assert found.verdict == "collapsed", found
    assert "reached 0.850 in epoch 19" in found.reason and "fell to 0.100" in found.reason


def test_late_blow_up_to_loss_50_is_collapsed():
    acc = np.concatenate([np.linspace(0.5, 0.88, 27), np.full(3, 0.1)])
    loss = np.concatenate([np.linspace(1.2, 0.3, 27), [50.0, 48.0, 51.0]])
    found = judge(curves(loss, test_loss=loss, train_acc=acc, test_acc=acc))
    assert found.verdict == "collapsed", found
    assert "train loss 51" in found.reason


def test_constant_rate_run_that_fell_from_0256_to_chance_is_collapsed():
    # The 3-epoch constant-rate run of issue 24: test accuracy 0.256 -> 0.098, train loss rising.
    found = judge(curves([2.2307, 2.2401, 2.2450], test_loss=[2.21, 2.28, 2.30],
                         train_acc=[0.16, 0.12, 0.10], test_acc=[0.256, 0.13, 0.098]))
    assert found.verdict == "collapsed", found


def test_tiny_converged_loss_is_not_oscillating():
    rng = np.random.default_rng(0)
    loss = 0.005 + 0.0005 * rng.standard_normal(N)
    found = judge(curves(loss, test_loss=np.full(N, 0.3), train_acc=np.full(N, 0.999), test_acc=np.full(N, 0.91)))
    assert found.numbers["train_swing"] > v.OSCILLATION_TRAIN  # relative to its tiny mean it swings...
    assert found.numbers["train_spread"] < v.OSCILLATION_TRAIN_FLOOR  # ...by a few ten-thousandths
    assert found.verdict != "oscillating", found


def test_short_plateau_run_whose_last_val_loss_is_its_lowest_is_not_overfitting():
    # A 3-epoch run: the gap grows (train learns faster) while the validation loss still falls.
    found = judge(curves([1.0, 0.6, 0.45], train_acc=[0.62, 0.78, 0.86], test_acc=[0.65, 0.73, 0.78],
                         val_loss=[0.9, 0.7, 0.6], val_acc=[0.65, 0.73, 0.78]))
    assert found.verdict != "overfitting", found
    assert found.numbers["gap_growth"] > v.OVERFIT_GAP


def test_overfitting_reason_names_only_the_condition_that_fired():
    test_loss = 0.4 + 0.002 * (T - 10) ** 2
    found = judge(curves(decaying(), test_loss=test_loss, train_acc=np.full(N, 0.9), test_acc=np.full(N, 0.85)))
    assert found.verdict == "overfitting" and "minimum" in found.reason and "gap" not in found.reason, found
    train_acc = np.linspace(0.80, 0.99, N)
    found = judge(curves(decaying(), test_loss=np.linspace(0.5, 0.45, N), train_acc=train_acc,
                         test_acc=np.full(N, 0.85)))
    assert found.verdict == "overfitting" and "gap grew" in found.reason and "above its minimum" not in found.reason


@pytest.mark.parametrize("first_loss", [math.nan, math.inf, 4e16])
def test_first_epoch_divergence_is_diverged(first_loss):
    found = judge(curves([first_loss], test_loss=[math.nan], train_acc=[math.nan], test_acc=[0.1],
                         status="diverged"))
    assert found.verdict == "diverged", found
    assert found.numbers["diverged_epoch"] == 0 and "epoch 0" in found.reason


def test_later_divergence_names_its_epoch():
    loss = [1.0, 0.8, math.nan]
    found = judge(curves(loss, test_loss=[1.1, 0.9, math.nan], train_acc=[0.6, 0.7, math.nan],
                         test_acc=[0.6, 0.7, 0.1], status="diverged"))
    assert found.verdict == "diverged" and found.numbers["diverged_epoch"] == 2, found


@pytest.mark.parametrize("rows", [
    {},  # no epoch at all (an interrupted run before its first epoch)
    {"epoch": [0], "status": ["failed"], "train_loss": [None], "train_acc": [None],
     "test_loss": [None], "test_acc": [None]},
    {"epoch": [0, 1], "train_loss": [math.inf, math.nan], "test_loss": [math.nan, math.nan],
     "train_acc": [math.nan, math.nan], "test_acc": [math.nan, math.nan], "status": ["complete"] * 2},
    {"epoch": [0], "train_loss": ["x"], "train_acc": [0.5], "test_loss": [0.5], "test_acc": [0.5]},
])
def test_judge_never_raises_on_a_runs_numbers(rows):
    found = judge(rows)
    assert found.verdict in v.VERDICTS and found.reason


def test_judge_runs_on_a_frame():
    pd = pytest.importorskip("pandas")
    frame = pd.concat([
        pd.DataFrame({**curves(decaying()), "run_id": "a"}),
        pd.DataFrame({**curves(np.full(N, 2.3026), train_acc=np.full(N, 0.1), test_acc=np.full(N, 0.1)), "run_id": "b"}),
    ]).sample(frac=1, random_state=0)  # epoch order is restored by judge_run
    table = v.judge_runs(frame)
    assert table.set_index("run_id").verdict.to_dict() == {"a": "converging", "b": "never_learned"}


# The cases issue 33 found in a user's own short runs, on their exact numbers. The issue gave the
# train losses and the accuracies named below; the other columns are plausible fillers that
# leave those numbers deciding.

@pytest.mark.parametrize("optimizer, train_loss", [("rmsprop", [2.279, 1.316, 1.025]),
                                                   ("adamw", [1.950, 1.084, 0.863])])
def test_a_three_epoch_loss_that_only_falls_is_converging_not_oscillating(optimizer, train_loss):
    # A line through these three points leaves ±0.158 (10.3 % of the mean, for rmsprop; ±0.159 from the
    # run's unrounded losses): the
    # curve's bend, read as a swing. A falling curve is its own monotone trend: nothing is left.
    found = judge(curves(train_loss, test_loss=[1.40, 1.10, 0.95], train_acc=[0.25, 0.55, 0.64],
                         test_acc=[0.45, 0.60, 0.66]))
    assert found.verdict == "converging", found
    assert found.numbers["train_spread"] == 0 and found.numbers["train_reversals"] == 0
    assert found.numbers["train_improvement"] == pytest.approx((train_loss[0] - train_loss[-1]) / train_loss[0])


@pytest.mark.parametrize("epochs", [4, 6, 12, 30])
@pytest.mark.parametrize("tau", [0.7, 2.0, 8.0])
def test_a_loss_that_only_falls_is_never_oscillating_however_steep(epochs, tau):
    t = np.arange(epochs, dtype=np.float64)
    loss = 0.3 + 2.0 * np.exp(-t / tau)
    found = judge(curves(loss, test_loss=0.35 + 2.0 * np.exp(-t / tau)))
    assert found.verdict != "oscillating", found
    assert found.numbers["train_spread"] == 0 and found.numbers["test_spread"] == 0


def test_a_swing_needs_four_epochs_and_two_changes_of_direction():
    # Down, up: one bump in three epochs is not a swing, whatever its size.
    found = judge(curves([1.0, 1.3, 0.9], train_acc=[0.6, 0.55, 0.65], test_acc=[0.58, 0.54, 0.62]))
    assert found.verdict == "converging" and found.numbers["train_reversals"] == 1, found
    # Up, down, up: a swing (±0.15 around the closest monotone curve, 12.8 % of the mean 1.05).
    found = judge(curves([1.0, 1.3, 0.8, 1.1], train_acc=[0.6, 0.55, 0.65, 0.6], test_acc=[0.58, 0.54, 0.62, 0.58]))
    assert found.verdict == "oscillating", found
    assert found.numbers["train_reversals"] == 2 and found.numbers["oscillation_window"] == 4
    assert found.numbers["train_spread"] == pytest.approx(0.15) and "changing direction 2 times" in found.reason


def test_train_accuracy_below_test_is_not_overfitting():
    # SGD with Nesterov at 0.03, 3 epochs: train 0.230 below test 0.345; the train-test gap grew
    # +0.123 (from -0.238 to -0.115) because the train accuracy is still catching up.
    found = judge(curves([2.25, 2.10, 1.98], test_loss=[1.95, 1.90, 1.86], train_acc=[0.107, 0.180, 0.230],
                         test_acc=[0.345, 0.330, 0.345]))
    assert found.numbers["gap_growth"] == pytest.approx(0.123)
    assert found.verdict == "converging", found


def test_train_accuracy_below_validation_is_not_overfitting():
    # A cosine grid run: train 0.280 below validation 0.297, the gap grown +0.083.
    found = judge(curves([2.20, 2.05, 1.99], train_acc=[0.200, 0.250, 0.280], test_acc=[0.31, 0.30, 0.30],
                         val_loss=[2.00, 1.98, 1.97], val_acc=[0.300, 0.290, 0.297]))
    assert found.numbers["gap_growth"] == pytest.approx(0.083) and "val_loss_rise" in found.numbers
    assert found.verdict == "converging", found


def test_a_rising_evaluation_loss_still_below_the_train_loss_is_not_overfitting():
    test_loss = 0.5 + 0.0004 * (T - 10) ** 2  # minimum 0.5 at epoch 10, ends 0.644: 28.9 % above it
    train = decaying(floor=1.0)  # ends at 1.089, above the test loss throughout
    found = judge(curves(train, test_loss=test_loss, train_acc=np.full(N, 0.80), test_acc=np.full(N, 0.82)))
    assert found.numbers["test_loss_rise"] == pytest.approx(0.2888)
    assert found.verdict == "converging", found
    # The same rise above a train loss below it is overfitting, and the reason gives both losses.
    found = judge(curves(train - 0.8, test_loss=test_loss, train_acc=np.full(N, 0.90), test_acc=np.full(N, 0.82)))
    assert found.verdict == "overfitting" and "at 0.6444 against train_loss 0.2892" in found.reason, found


def test_collapsed_names_a_rise_above_chance_and_the_fall():
    # The reported reason "val_acc reached 0.100 in epoch 0, then fell to 0.100": the validation
    # accuracy never rose; the train accuracy did (0.183 over epoch 0), then fell to chance.
    found = judge(curves([2.60, 2.304, 2.303], train_acc=[0.183, 0.102, 0.100], test_acc=[0.1, 0.1, 0.1],
                         val_loss=[2.31, 2.303, 2.303], val_acc=[0.100, 0.100, 0.100]))
    assert found.verdict == "collapsed", found
    assert found.reason.startswith("train_acc reached 0.183 in epoch 0 (above 0.15: chance 0.1 + 0.05), "
                                   "and the final network's val_acc is 0.100 in epoch 2"), found
    assert found.numbers["peak_acc"] > found.numbers["chance"] + v.CHANCE_MARGIN


@pytest.mark.parametrize("train_acc, test_acc, train_loss, reason", [
    # Two seeds of the warmup_at_1024 study's SGD + warmup arm (2 epochs, 2,048 test images): each epoch's
    # running train accuracy stayed above 0.15 while the network at the end predicted one class.
    ([0.134, 0.196], [0.103, 0.100], [2.278, 2.655],
     "train_acc reached 0.196 in epoch 1 (above 0.15: chance 0.1 + 0.05), and the final network's test_acc is "
     "0.100 in epoch 1"),
    ([0.173, 0.234], [0.374, 0.100], [2.277, 2.966],
     "test_acc reached 0.374 in epoch 0 (above 0.15: chance 0.1 + 0.05), then fell to 0.100 by epoch 1"),
])
def test_a_network_that_ends_at_chance_collapsed_whatever_its_running_train_accuracy(train_acc, test_acc,
                                                                                      train_loss, reason):
    found = judge(curves(train_loss, test_loss=[2.3, 2.4], train_acc=train_acc, test_acc=test_acc))
    assert found.verdict == "collapsed" and found.reason.startswith(reason), found
    # A short run above chance at its end is still too short to judge.
    assert judge(curves(train_loss, test_loss=[2.3, 2.4], train_acc=train_acc, test_acc=[0.103, 0.209])).verdict \
        == "too_short"
