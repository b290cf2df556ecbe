"""A verdict for every run, from its per-epoch curves alone: pure, framework-free.

``judge(curves)`` takes one run's per-epoch columns (``train_loss``, ``train_acc``,
``test_loss``, ``test_acc``, optionally ``val_loss``/``val_acc`` and ``status``) and returns a
``Verdict``: one of ``VERDICTS``, a sentence saying why, and the numbers that decided it. The
checks run in this order, and the first that fires wins:

1. ``diverged``: the runner stopped the run as diverged, or a loss is not finite.
2. ``never_learned``: the final train *and* evaluation accuracy are within ``CHANCE_MARGIN``
   of chance (1 / number of classes).
3. ``oscillating``: over the last ``window`` epochs, the train loss swings around its linear
   trend by more than ``OSCILLATION_TRAIN`` of its mean (standard deviation of the residuals),
   or the evaluation loss by more than ``OSCILLATION_EVAL`` (an evaluation loss is noisier, so
   its bar is higher).
4. ``overfitting``: the evaluation loss ended more than ``OVERFIT_RISE`` above its minimum
   while the train loss kept falling (since that minimum and over the window), or the train-evaluation accuracy gap
   widened by more than ``OVERFIT_GAP`` over the last ``window`` epochs.
5. ``plateaued``: the train loss fell by less than ``PLATEAU_IMPROVEMENT`` (relative) over the
   last ``window`` epochs.
6. ``converging``: none of the above.

The evaluation curves are the validation split's when the run has one (``val_loss`` not null),
else the test set's: a verdict describes the run; it chooses nothing.
``window`` is the last third of the run, at least ``MIN_WINDOW`` epochs; trend checks (3 to 5)
need at least ``MIN_WINDOW`` epochs, and a shorter run is ``converging`` unless 1 or 2 fire.

The thresholds below were set against the committed study (results/d2l_study): every cosine
and warmup run is ``converging``, every chance-level run ``never_learned``, and the constant
rate's rising test loss (15 to 46 % above its minimum) ``overfitting``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

VERDICTS = ("converging", "plateaued", "oscillating", "overfitting", "diverged", "never_learned")

# Every threshold in one place.
DIVERGED_LOSS = 1e3  # the runner's own bar (harness.runner.DIVERGED_LOSS): a mean loss this large has blown up
CHANCE_MARGIN = 0.05  # accuracy within 5 points of chance (0.15 for ten classes) is "at chance"
MIN_WINDOW = 3  # epochs: fewer and there is no trend to measure
WINDOW_FRACTION = 1 / 3  # the last third of the run
OSCILLATION_TRAIN = 0.05  # residual std / mean of the train loss over the window
OSCILLATION_EVAL = 0.15  # the same for the evaluation loss
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


def relative_swing(values: np.ndarray) -> float:
    """Standard deviation of ``values`` around their least-squares line, over their mean."""
    t = np.arange(len(values), dtype=np.float64)
    slope, intercept = np.polyfit(t, values, 1)
    return float(np.std(values - (slope * t + intercept)) / abs(np.mean(values)))


def _column(curves: Mapping[str, Sequence], name: str) -> np.ndarray | None:
    if name not in curves:
        return None
    values = np.asarray([np.nan if v is None else v for v in curves[name]], dtype=np.float64)
    return None if np.isnan(values).all() else values


def judge(curves: Mapping[str, Sequence], num_classes: int = 10) -> Verdict:
    """The verdict of one run from its per-epoch columns, in epoch order."""
    train_loss, train_acc = _column(curves, "train_loss"), _column(curves, "train_acc")
    if train_loss is None or train_acc is None:
        raise ValueError("judge needs the train_loss and train_acc columns of at least one epoch")
    split = "val" if _column(curves, "val_loss") is not None else "test"
    eval_loss, eval_acc = _column(curves, f"{split}_loss"), _column(curves, f"{split}_acc")
    if eval_loss is None or eval_acc is None:
        raise ValueError("judge needs test_loss/test_acc (or val_loss/val_acc) columns")
    n = len(train_loss)
    statuses = list(curves.get("status", []))
    status = statuses[-1] if statuses else None

    losses = np.concatenate([train_loss, eval_loss])
    worst = float(np.max(np.abs(losses))) if np.isfinite(losses).all() else math.inf
    if status == "diverged" or not worst < DIVERGED_LOSS:
        return Verdict("diverged", f"a loss reached {worst:.4g} (the runner stops above {DIVERGED_LOSS:g}) "
                       f"at or before epoch {n - 1}", {"max_loss": worst, "epochs": n, "status": status})

    chance = 1.0 / num_classes
    final = {"train_acc": float(train_acc[-1]), f"{split}_acc": float(eval_acc[-1]), "chance": chance}
    if max(train_acc[-1], eval_acc[-1]) <= chance + CHANCE_MARGIN:
        return Verdict("never_learned", f"final train_acc {train_acc[-1]:.3f} and {split}_acc {eval_acc[-1]:.3f} "
                       f"are within {CHANCE_MARGIN:g} of chance ({chance:g})", final)

    w = window_size(n)
    if w < MIN_WINDOW:
        return Verdict("converging", f"only {n} epoch(s): too short for a trend; not diverged, above chance",
                       {**final, "epochs": n})

    swing_train, swing_eval = relative_swing(train_loss[-w:]), relative_swing(eval_loss[-w:])
    best = int(np.argmin(eval_loss))
    rise = float(eval_loss[-1] / eval_loss[best] - 1)
    train_fell = bool(train_loss[-1] < min(train_loss[best], train_loss[-w]))  # since the minimum and lately
    gap_growth = float((train_acc[-1] - eval_acc[-1]) - (train_acc[-w] - eval_acc[-w]))
    improvement = float((train_loss[-w] - train_loss[-1]) / abs(train_loss[-w]))
    numbers = {
        "window": w,
        "train_swing": swing_train,
        f"{split}_swing": swing_eval,
        f"{split}_loss_rise": rise,
        f"best_{split}_epoch": best,
        "gap_growth": gap_growth,
        "train_improvement": improvement,
        **final,
    }
    if swing_train > OSCILLATION_TRAIN or swing_eval > OSCILLATION_EVAL:
        return Verdict("oscillating", f"over the last {w} epochs the train loss swings {swing_train:.1%} and the "
                       f"{split} loss {swing_eval:.1%} around their trends (limits {OSCILLATION_TRAIN:.0%}, "
                       f"{OSCILLATION_EVAL:.0%})", numbers)
    if (rise > OVERFIT_RISE and train_fell) or gap_growth > OVERFIT_GAP:
        return Verdict("overfitting", f"{split}_loss ended {rise:.1%} above its minimum at epoch {best} while "
                       f"train_loss kept falling; the accuracy gap grew {gap_growth:+.3f} over the last {w} "
                       f"epochs (limits {OVERFIT_RISE:.0%}, {OVERFIT_GAP:+g})", numbers)
    if improvement < PLATEAU_IMPROVEMENT:
        return Verdict("plateaued", f"train_loss fell {improvement:.2%} over the last {w} epochs "
                       f"(less than {PLATEAU_IMPROVEMENT:.0%})", numbers)
    return Verdict("converging", f"train_loss fell {improvement:.1%} over the last {w} epochs, swings "
                   f"{swing_train:.1%}, {split}_loss {rise:.1%} above its minimum", numbers)


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
