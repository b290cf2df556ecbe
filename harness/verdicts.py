"""A verdict for every run, from its per-epoch curves alone: pure, framework-free.

``judge(curves)`` takes one run's per-epoch columns (``train_loss``, ``train_acc``,
``test_loss``, ``test_acc``, optionally ``val_loss``/``val_acc`` and ``status``) and returns a
``Verdict``: one of ``VERDICTS``, a sentence that names only the condition that fired, and the
numbers that decided it. It accepts any row a run can write (NaN or infinite numbers, one epoch,
a first epoch that diverged, no epoch at all) and never raises on them. The checks run in this
order, and the first that fires wins:

1. ``diverged``: the runner stopped the run as diverged, or a loss is not finite or above
   ``DIVERGED_LOSS``; the reason names the first epoch where that happened.
2. ``never_learned``: no epoch's train or evaluation accuracy rose more than ``CHANCE_MARGIN``
   above chance (1 / number of classes). The whole curve decides, not the final epoch.
3. ``collapsed``: the run learned (an accuracy rose more than ``CHANCE_MARGIN`` above chance: the
   evaluation accuracy when it did, else the train accuracy) and ended at chance: a network that
   fell to uniform predictions. "Ended" is the last evaluation, the final network's own accuracy
   (the train accuracy averages the whole last epoch, so it lags a network that fell during it); a
   run without an evaluation ends at its train accuracy. The reason names the peak and where the
   same accuracy ended.
4. ``too_short``: fewer than ``MIN_WINDOW`` epochs, so there is no trend to judge (not diverged,
   not at chance).
5. ``oscillating``: over the last ``oscillation window`` epochs (the window, at least
   ``OSCILLATION_MIN_EPOCHS``) the train loss moves against its trend, the closest monotone curve
   (falling or rising, whichever fits better: a loss that only falls, however steeply, is its own
   trend and never oscillates), by a standard deviation above ``OSCILLATION_TRAIN`` of its mean
   *and* above ``OSCILLATION_TRAIN_FLOOR`` in absolute terms (a converged loss of 0.005 ± 0.0005
   is not oscillating), changing direction at least ``OSCILLATION_REVERSALS`` times (one bump is
   not a swing); or the evaluation loss does so by more than ``OSCILLATION_EVAL`` and
   ``OSCILLATION_EVAL_FLOOR`` (an evaluation loss is noisier, so its bars are higher). A run
   shorter than ``OSCILLATION_MIN_EPOCHS`` is never judged oscillating.
6. ``overfitting``: the train metric is better than the evaluation metric and the gap between
   them grows: the evaluation loss ended more than ``OVERFIT_RISE`` above its minimum, and above
   the train loss, while the train loss kept falling (since that minimum and over the window); or
   the train accuracy ended above the evaluation accuracy after the gap (train - evaluation)
   widened by more than ``OVERFIT_GAP`` over the window while the evaluation accuracy gained
   nothing over it or the evaluation loss was past its minimum (a gap that grows while the
   evaluation curves still improve is a network learning, not overfitting; a train accuracy
   below the evaluation accuracy is a network still catching up with its own average, not one
   fitting its training set).
7. ``plateaued``: the train loss fell by less than ``PLATEAU_IMPROVEMENT`` (relative) over the
   last ``window`` epochs.
8. ``converging``: none of the above.

The evaluation curves are the validation split's when the run has one (``val_loss`` not null),
else the test set's: a verdict describes the run; it chooses nothing. ``window`` is the last
third of the run, at least ``MIN_WINDOW`` epochs.

The thresholds below were set against the committed study (results/d2l_study): every cosine
and warmup run is ``converging``, every chance-level run ``never_learned``, and the constant
rate's rising test loss (15 to 46 % above its minimum) ``overfitting``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

VERDICTS = ("converging", "plateaued", "oscillating", "overfitting", "diverged", "never_learned", "collapsed",
            "too_short")
# Verdicts that mean the run did not produce a usable network (the report counts them as failures).
FAILED_VERDICTS = ("diverged", "never_learned", "collapsed")

# Every threshold in one place.
DIVERGED_LOSS = 1e3  # the runner's own bar (harness.runner.DIVERGED_LOSS): a mean loss this large has blown up
CHANCE_MARGIN = 0.05  # accuracy within 5 points of chance (0.15 for ten classes) is "at chance"
MIN_WINDOW = 3  # epochs: fewer and there is no trend to measure
WINDOW_FRACTION = 1 / 3  # the last third of the run
OSCILLATION_MIN_EPOCHS = 4  # a swing is down, up, down: two reversals need four epochs
OSCILLATION_REVERSALS = 2  # changes of direction within the oscillation window
OSCILLATION_TRAIN = 0.05  # std around the monotone trend / mean of the train loss over the window
OSCILLATION_TRAIN_FLOOR = 0.01  # ... and the residual std itself, in nats: a tiny loss's tiny swing is no swing
OSCILLATION_EVAL = 0.15  # the same for the evaluation loss
OSCILLATION_EVAL_FLOOR = 0.02
OVERFIT_RISE = 0.10  # final evaluation loss / its minimum - 1
OVERFIT_GAP = 0.03  # growth of (train_acc - eval_acc) over the window
PLATEAU_IMPROVEMENT = 0.01  # relative fall of the train loss over the window


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    numbers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason}"


def window_size(epochs: int) -> int:
    return min(epochs, max(MIN_WINDOW, int(epochs * WINDOW_FRACTION)))


def _increasing_fit(values: np.ndarray) -> np.ndarray:
    """The least-squares non-decreasing fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count] per pooled block
    for value in values:
        blocks.append([float(value), 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return np.concatenate([np.full(count, total / count) for total, count in blocks])


def monotone_swing(values: np.ndarray) -> tuple[float, float, int]:
    """How far ``values`` move against their trend: (standard deviation around the closest
    monotone curve, falling or rising; that over their mean; changes of direction). A curve that
    only falls (or only rises) is its own trend: (0, 0, 0), however curved."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return 0.0, 0.0, 0
    fits = (_increasing_fit(values), -_increasing_fit(-values))
    spread = min(float(np.std(values - fit)) for fit in fits)
    steps = np.sign(np.diff(values))
    steps = steps[steps != 0]
    reversals = int(np.count_nonzero(steps[1:] != steps[:-1]))
    mean = abs(float(np.mean(values)))
    return spread, (spread / mean if mean > 0 else math.inf if spread > 0 else 0.0), reversals


def _column(curves: Mapping[str, Sequence], name: str, n: int) -> np.ndarray:
    """The column as float64, NaN where it is missing or null (never raises on a run's numbers)."""
    values = curves.get(name)
    if values is None:
        return np.full(n, np.nan)
    out = np.full(n, np.nan)
    for i, value in enumerate(list(values)[:n]):
        try:
            out[i] = np.nan if value is None else float(value)
        except (TypeError, ValueError):
            out[i] = np.nan
    return out


def _length(curves: Mapping[str, Sequence]) -> int:
    for name in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "status"):
        values = curves.get(name)
        if values is not None:
            return len(list(values))
    return 0


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def judge(curves: Mapping[str, Sequence], num_classes: int = 10) -> Verdict:
    """The verdict of one run from its per-epoch columns, in epoch order."""
    n = _length(curves)
    statuses = list(curves.get("status") or [])
    status = statuses[-1] if statuses else None
    if n == 0:
        return Verdict("too_short", "no epoch finished", {"epochs": 0, "status": status})
    train_loss, train_acc = _column(curves, "train_loss", n), _column(curves, "train_acc", n)
    split = "val" if np.isfinite(_column(curves, "val_loss", n)).any() else "test"
    eval_loss, eval_acc = _column(curves, f"{split}_loss", n), _column(curves, f"{split}_acc", n)

    # 1. Diverged: the first epoch whose train or evaluation loss is not finite or above the bar.
    # A loss that is null because it was never measured is not a divergence; NaN from a run is.
    bad = np.zeros(n, dtype=bool)
    for name, values in (("train_loss", train_loss), (f"{split}_loss", eval_loss)):
        measured = np.array([v is not None for v in (list(curves.get(name) or []) + [None] * n)[:n]])
        bad |= measured & ~(np.isfinite(values) & (np.abs(values) < DIVERGED_LOSS))
    if status != "diverged" and not bad.any() and not np.isfinite(train_loss).any():
        return Verdict("too_short", "no epoch has a measured train loss", {"epochs": n, "status": status})
    if status == "diverged" or bad.any():
        first = int(np.argmax(bad)) if bad.any() else n - 1
        loss = train_loss[first] if not (np.isfinite(train_loss[first]) and abs(train_loss[first]) < DIVERGED_LOSS) \
            else eval_loss[first]
        return Verdict("diverged", f"the loss was {_fmt(float(loss))} in epoch {first} (the runner stops at a "
                       f"non-finite loss or one above {DIVERGED_LOSS:g})",
                       {"diverged_epoch": first, "loss": float(loss), "epochs": n, "status": status})

    # 2-3. Chance level, judged on the whole curve.
    chance = 1.0 / num_classes
    at_chance = chance + CHANCE_MARGIN
    # The final network's own accuracy: the last evaluation (the train accuracy is a running average
    # over the last epoch and lags a network that fell during it); the train accuracy without one.
    final_acc = float(eval_acc[-1]) if np.isfinite(eval_acc[-1]) else float(train_acc[-1])
    best_eval = float(np.nanmax(eval_acc)) if np.isfinite(eval_acc).any() else math.nan
    best_any = float(np.nanmax(np.concatenate([train_acc, eval_acc])))
    final = {"train_acc": float(train_acc[-1]), f"{split}_acc": float(eval_acc[-1]), "chance": chance,
             f"best_{split}_acc": best_eval, "epochs": n}
    if not best_any > at_chance:
        return Verdict("never_learned", f"no epoch's train or {split} accuracy rose above {at_chance:.2f} "
                       f"(chance {chance:g} + {CHANCE_MARGIN:g}); the best was {best_any:.3f}", final)
    if final_acc <= at_chance:
        # The accuracy that rose above chance: the evaluation's when it did, else the train one's
        # (a run can learn within its first epoch, then fall before it is evaluated).
        name, curve = (f"{split}_acc", eval_acc) if best_eval > at_chance else ("train_acc", train_acc)
        best_epoch = int(np.nanargmax(curve))
        ended = f"{split}_acc" if np.isfinite(eval_acc[-1]) else "train_acc"
        fell = (f"then fell to {final_acc:.3f} by epoch {n - 1}" if ended == name else
                f"and the final network's {ended} is {final_acc:.3f} in epoch {n - 1}")
        return Verdict("collapsed", f"{name} reached {float(curve[best_epoch]):.3f} in epoch {best_epoch} (above "
                       f"{at_chance:.2f}: chance {chance:g} + {CHANCE_MARGIN:g}), {fell} with train loss "
                       f"{_fmt(float(train_loss[-1]))}",
                       {**final, "peak_metric": name, "peak_acc": float(curve[best_epoch]), "peak_epoch": best_epoch,
                        f"best_{split}_epoch": int(np.nanargmax(eval_acc)) if np.isfinite(eval_acc).any() else None})

    # 4. Too short for a trend.
    w = window_size(n)
    if n < MIN_WINDOW:
        return Verdict("too_short", f"only {n} epoch{'s' if n != 1 else ''}: too short for a trend (the trend "
                       f"checks need {MIN_WINDOW}); not diverged, above chance", final)

    ow = min(n, max(w, OSCILLATION_MIN_EPOCHS))
    spread_train, swing_train, reversals_train = monotone_swing(train_loss[-ow:])
    spread_eval, swing_eval, reversals_eval = monotone_swing(eval_loss[-ow:])
    best = int(np.nanargmin(eval_loss))
    rise = float(eval_loss[-1] / eval_loss[best] - 1) if eval_loss[best] > 0 else 0.0
    train_fell = bool(train_loss[-1] < min(train_loss[best], train_loss[-w]))  # since the minimum and lately
    gap_growth = float((train_acc[-1] - eval_acc[-1]) - (train_acc[-w] - eval_acc[-w]))
    improvement = float((train_loss[-w] - train_loss[-1]) / abs(train_loss[-w])) if train_loss[-w] else 0.0
    numbers = {
        "window": w,
        "oscillation_window": ow,
        "train_swing": swing_train,
        "train_spread": spread_train,
        "train_reversals": reversals_train,
        f"{split}_swing": swing_eval,
        f"{split}_spread": spread_eval,
        f"{split}_reversals": reversals_eval,
        f"{split}_loss_rise": rise,
        f"best_{split}_epoch": best,
        "gap_growth": gap_growth,
        "train_improvement": improvement,
        **final,
    }
    long_enough = n >= OSCILLATION_MIN_EPOCHS
    train_oscillates = (long_enough and reversals_train >= OSCILLATION_REVERSALS
                        and swing_train > OSCILLATION_TRAIN and spread_train > OSCILLATION_TRAIN_FLOOR)
    eval_oscillates = (long_enough and reversals_eval >= OSCILLATION_REVERSALS
                       and swing_eval > OSCILLATION_EVAL and spread_eval > OSCILLATION_EVAL_FLOOR)
    if train_oscillates or eval_oscillates:
        which = []
        if train_oscillates:
            which.append(f"the train loss moves ±{spread_train:.3g} ({swing_train:.1%} of its mean) against its "
                         f"monotone trend, changing direction {reversals_train} times (limits "
                         f"{OSCILLATION_TRAIN:.0%}, ±{OSCILLATION_TRAIN_FLOOR:g}, {OSCILLATION_REVERSALS} changes)")
        if eval_oscillates:
            which.append(f"the {split} loss moves ±{spread_eval:.3g} ({swing_eval:.1%} of its mean) against its "
                         f"monotone trend, changing direction {reversals_eval} times (limits "
                         f"{OSCILLATION_EVAL:.0%}, ±{OSCILLATION_EVAL_FLOOR:g}, {OSCILLATION_REVERSALS} changes)")
        return Verdict("oscillating", f"over the last {ow} epochs " + " and ".join(which), numbers)
    # Overfitting is the train metric better than the evaluation's, by a growing margin.
    rising = rise > OVERFIT_RISE and train_fell and train_loss[-1] < eval_loss[-1]
    stalled = bool(eval_acc[-1] <= eval_acc[-w])  # no evaluation accuracy gained over the window
    widening = (gap_growth > OVERFIT_GAP and train_acc[-1] > eval_acc[-1]
                and (best != n - 1 or stalled))
    if rising or widening:
        which = []
        if rising:
            which.append(f"{split}_loss ended {rise:.1%} above its minimum at epoch {best} (limit "
                         f"{OVERFIT_RISE:.0%}), at {_fmt(float(eval_loss[-1]))} against train_loss "
                         f"{_fmt(float(train_loss[-1]))}, which kept falling")
        if widening:
            which.append(f"train_acc {train_acc[-1]:.3f} ended above {split}_acc {eval_acc[-1]:.3f} and the gap "
                         f"grew {gap_growth:+.3f} over the last {w} epochs (limit {OVERFIT_GAP:+g}) while "
                         f"{split}_acc " + ("gained nothing" if stalled else f"passed its best loss at epoch {best}"))
        return Verdict("overfitting", "; ".join(which), numbers)
    if improvement < PLATEAU_IMPROVEMENT:
        # A loss that rose has not "fallen -7.63 %": say which way it went.
        moved = f"fell {improvement:.2%}" if improvement >= 0 else f"rose {-improvement:.2%}"
        return Verdict("plateaued", f"train_loss {moved} over the last {w} epochs "
                       f"(a fall of less than {PLATEAU_IMPROVEMENT:.0%})", numbers)
    return Verdict("converging", f"train_loss fell {improvement:.1%} over the last {w} epochs, moves "
                   f"{swing_train:.1%} against its trend, {split}_loss {rise:.1%} above its minimum", numbers)


def judge_run(frame) -> Verdict:
    """The verdict of one run's rows (a pandas DataFrame, e.g. one ``run_id`` of the results)."""
    ordered = frame.sort_values("epoch")
    return judge({name: ordered[name].tolist() for name in ordered.columns})


def judge_runs(frame):
    """One row per ``run_id`` of a results table: ``run_id``, ``verdict``, ``reason``, ``numbers``."""
    import pandas as pd

    rows = []
    for rid, run in frame.groupby("run_id", sort=True):
        found = judge_run(run)
        rows.append({"run_id": rid, "verdict": found.verdict, "reason": found.reason, "numbers": found.numbers})
    return pd.DataFrame(rows, columns=["run_id", "verdict", "reason", "numbers"])


def verdict_by_run(frame):
    """``run_id`` -> the verdict today's rules give its rows: what a report reads instead of the ``verdict``
    column, which holds the rules of the day each run trained (an upgrade never retrains a run)."""
    import pandas as pd

    if not len(frame):
        return pd.Series([], dtype=object)
    return judge_runs(frame).set_index("run_id")["verdict"]
