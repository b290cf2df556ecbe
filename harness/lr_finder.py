"""The learning-rate range test's arithmetic: pure, framework-free (numpy only).

The test (Smith 2015, "Cyclical Learning Rates", section 3.3; fastai's ``lr_find``) trains from
the run's initial weights while the rate grows exponentially per update, records the loss of
every update, and stops once the smoothed loss passes ``stop_factor`` times its best. From the
curve, four rules suggest a rate:

- ``steep``: where the smoothed loss falls fastest against log(rate). The derivative is taken
  against log(rate) with the real spacing, not per index (Lightning's original rule ignored
  the spacing), on the smoothed loss, as the least-squares slope over 5 neighbouring points
  (a two-point difference of a noisy loss is noise: Lightning's later regression), and only
  before the minimum.
- ``minimum``: the rate of the smoothed loss's minimum, divided by 10 (fastai's ``minimum``):
  the minimum itself is already at the edge of stability.
- ``valley``: fastai's ``valley``: the longest run of decreasing losses (longest decreasing
  subsequence), and the point about halfway down it (fastai takes a third plus a sixth).
- ``first_rise``: the first rate at which the smoothed loss rises more than ``RISE_TOLERANCE``
  above its running minimum: where training starts to fail. An upper bound, not a choice.

``recommend`` picks ``valley`` (fastai's default since 2.5, the most robust to noise of the
four) and says why, or says that the test cannot suggest anything (a loss that diverged within a
few updates) or that its suggestion is a lower bound (a loss that never rose: raise end_lr).
As in fastai, the rules ignore the first ``SKIP_START`` fraction of the updates (the smoothing
is still warming up) and, when the stop rule fired, the last ``SKIP_END`` updates (the blow-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# fastai's defaults
START_LR = 1e-7
END_LR = 10.0
NUM_UPDATES = 100
SMOOTHING = 0.98  # beta of the exponential moving average
STOP_FACTOR = 4.0  # stop once the smoothed loss exceeds this times its best
MIN_UPDATES = 10  # fewer updates cannot show a curve
SKIP_START = 0.1  # fraction of the first updates the rules ignore
SKIP_END = 5  # updates before a stop the rules ignore
STEEP_HALF_WIDTH = 2  # steep: slopes fitted over 5 neighbouring points
RISE_TOLERANCE = 0.10  # first_rise: the smoothed loss this far above its running minimum
RULES = ("steep", "minimum", "valley", "first_rise")
RECOMMENDED = "valley"


def check_range(start_lr: float, end_lr: float, num_updates: int) -> None:
    """Raise ValueError naming the bad value."""
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}={value} must be a positive finite learning rate")
    if start_lr >= end_lr:
        raise ValueError(f"start_lr={start_lr} must be below end_lr={end_lr}")
    if num_updates < MIN_UPDATES:
        raise ValueError(f"num_updates={num_updates} must be at least {MIN_UPDATES}")


def exponential_rates(start_lr: float = START_LR, end_lr: float = END_LR, num_updates: int = NUM_UPDATES) -> np.ndarray:
    """``num_updates`` rates from ``start_lr`` to ``end_lr`` (both included), a constant ratio apart."""
    check_range(start_lr, end_lr, num_updates)
    return start_lr * (end_lr / start_lr) ** (np.arange(num_updates, dtype=np.float64) / (num_updates - 1))


@dataclass
class Smoother:
    """Exponential moving average with bias correction, and the stop rule, one update at a time.

    ``add(loss)`` returns the smoothed loss; ``stopped`` turns True once the smoothed loss exceeds
    ``stop_factor`` times its best, or a loss is not finite.
    """

    beta: float = SMOOTHING
    stop_factor: float = STOP_FACTOR
    average: float = 0.0
    count: int = 0
    best: float = math.inf
    stopped: bool = False

    def add(self, loss: float) -> float:
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta**self.count)
        if not math.isfinite(smoothed):
            self.stopped = True
            return smoothed
        self.best = min(self.best, smoothed)
        if smoothed > self.stop_factor * self.best:
            self.stopped = True
        return smoothed


def smooth(losses, beta: float = SMOOTHING) -> np.ndarray:
    """The bias-corrected moving average of a whole curve (what ``Smoother.add`` returns per update)."""
    smoother = Smoother(beta, math.inf)
    return np.array([smoother.add(float(loss)) for loss in losses], dtype=np.float64)


@dataclass(frozen=True)
class Suggestion:
    rule: str
    lr: float
    index: int  # the update whose rate (for `minimum`: whose rate / 10) is suggested
    loss: float  # the smoothed loss there


@dataclass(frozen=True)
class Recommendation:
    lr: float | None  # None when the test cannot suggest a rate
    rule: str | None
    reason: str
    suggestions: dict[str, Suggestion | None] = field(default_factory=dict)


def _window(n: int, stopped: bool) -> tuple[int, int]:
    """The index range [lo, hi) the rules look at."""
    lo = int(n * SKIP_START)
    hi = n - SKIP_END if stopped else n
    return lo, hi


def log_slopes(lrs: np.ndarray, losses: np.ndarray, half_width: int = STEEP_HALF_WIDTH) -> np.ndarray:
    """d(loss)/d(log lr) at each point: the least-squares slope over the ``2 * half_width + 1``
    neighbouring points (fewer at the ends), against the real log rates. A two-point difference
    of a noisy loss is mostly noise; a window of a few points is not."""
    x = np.log(lrs)
    slopes = np.empty(len(x))
    for i in range(len(x)):
        lo, hi = max(0, i - half_width), min(len(x), i + half_width + 1)
        xs, ys = x[lo:hi], losses[lo:hi]
        xc = xs - xs.mean()
        slopes[i] = float(np.dot(xc, ys - ys.mean()) / np.dot(xc, xc))
    return slopes


def steepest(lrs: np.ndarray, smoothed: np.ndarray) -> int | None:
    """Index of the most negative d(loss)/d(log lr), before the minimum; None without a descent."""
    stop = int(np.argmin(smoothed)) + 1
    if stop < 3:
        return None
    slope = log_slopes(lrs[:stop], smoothed[:stop])
    index = int(np.argmin(slope))
    return index if slope[index] < 0 else None


def longest_valley(losses: np.ndarray) -> tuple[int, int] | None:
    """Start and end of the longest decreasing subsequence (fastai's ``valley``), O(n^2)."""
    n = len(losses)
    if n < 2:
        return None
    lengths = [1] * n
    max_start, max_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[max_end] < lengths[i]:
                max_end = i
                max_start = max_end - lengths[max_end]
    return (max_start, max_end) if max_end > max_start else None


def first_rise(smoothed: np.ndarray, tolerance: float = RISE_TOLERANCE) -> int | None:
    running = np.minimum.accumulate(smoothed)
    risen = np.flatnonzero(smoothed > running * (1 + tolerance))
    return int(risen[0]) if len(risen) else None


def suggest(lrs, smoothed, stopped: bool) -> dict[str, Suggestion | None]:
    """The four rules on a recorded curve (``lrs`` and ``smoothed`` of the updates done)."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    lo, hi = _window(len(lrs), stopped)
    out: dict[str, Suggestion | None] = dict.fromkeys(RULES)
    if hi - lo < 3 or not np.isfinite(smoothed[lo:hi]).all():
        return out
    x, y = lrs[lo:hi], smoothed[lo:hi]

    def at(rule: str, i: int, lr: float | None = None) -> Suggestion:
        return Suggestion(rule, float(x[i] if lr is None else lr), lo + i, float(y[i]))

    steep = steepest(x, y)
    if steep is not None:
        out["steep"] = at("steep", steep)
    low = int(np.argmin(y))
    if low > 0:
        out["minimum"] = at("minimum", low, x[low] / 10)
    valley = longest_valley(y)
    if valley is not None:
        start, end = valley
        sections = (end - start) / 3
        out["valley"] = at("valley", start + int(sections) + int(sections / 2))
    rise = first_rise(smoothed[lo:])  # the blow-up itself counts here
    if rise is not None:
        out["first_rise"] = Suggestion("first_rise", float(lrs[lo + rise]), lo + rise, float(smoothed[lo + rise]))
    return out


def recommend(lrs, smoothed, stopped: bool) -> Recommendation:
    """The rules' suggestions, the one recommended and why."""
    suggestions = suggest(lrs, smoothed, stopped)
    n = len(lrs)
    chosen = suggestions[RECOMMENDED]
    if chosen is None or suggestions["minimum"] is None:
        return Recommendation(
            None, None,
            f"the loss did not fall over the {n} updates recorded (up to lr {float(lrs[-1]):.3g}); "
            f"lower start_lr, or check the model and data",
            suggestions,
        )
    reason = "valley: middle of the longest descent of the smoothed loss, the rule least moved by noise (fastai's default)"
    if not stopped and suggestions["first_rise"] is None:
        reason += f"; the loss never rose up to end_lr={float(lrs[-1]):.3g}, so this is a lower bound: raise end_lr"
    rise = suggestions["first_rise"]
    if rise is not None and chosen.lr >= rise.lr:
        reason += f"; it is at or above the first rise ({rise.lr:.3g}): use a smaller rate"
    return Recommendation(chosen.lr, RECOMMENDED, reason, suggestions)
