"""The learning-rate range test's arithmetic: pure, framework-free (numpy only).

The test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3;
fastai's ``Learner.lr_find``) trains from the run's initial weights while the rate grows
exponentially per update, records the loss of every update, and stops once the smoothed loss
passes ``stop_factor`` times its best (or is not finite). What follows fastai is fastai's code
as it stands in ``fastai/callback/schedule.py`` (``LRFinder``, ``lr_find``, ``valley``,
``slide``, ``minimum``, ``steep``; ``SmoothLoss`` in ``learner.py``):

- the rate grid: update ``i`` uses ``start_lr * (end_lr / start_lr) ** (i / num_updates)``
  (``before_batch`` sets ``train_iter / num_it``; ``end_lr`` itself is never used);
- the smoothing: an EMA with beta 0.98, bias-corrected; the stop at 4x the best smoothed loss;
- the window the rules read: ``recorder.lrs[num_it//10:-5]``: from a tenth of the *planned*
  updates, and always without the last 5 recorded (stopped or not);
- ``valley`` (fastai's default since 2.5, recommended here): the longest decreasing subsequence
  of the smoothed loss, and the point ``int(l/3) + int(l/6)`` into it;
- ``slide``: walking back from the end, the first rate whose slope differs by at most ``thresh``
  from the slope ``lr_diff`` updates later (``np.gradient`` per update), times ``adjust_value``;
- ``minimum``: the rate of the smoothed minimum, divided by 10.

Named departures from fastai:

- ``steep``: fastai takes the most negative two-point difference over the whole window; here
  the least-squares slope over 5 neighbouring points against log(rate) with the real spacing,
  before the minimum (a two-point difference of a noisy loss is noise: Lightning's regression).
- a non-finite loss stops the test (fastai's ``>`` is False for NaN, so it keeps training and
  then cuts the window at the first NaN); either way no rule sees a NaN.
- ``slide`` returns nothing on a window shorter than ``lr_diff + 1`` (fastai raises IndexError).
- ``minimum`` returns nothing when the minimum is the window's first point (no fall).
- ``first_rise`` (not fastai's): the first rate at which the smoothed loss rises more than
  ``RISE_TOLERANCE`` above its running minimum: an upper bound, not a choice.
- collapse (not fastai's). A 10-class cross-entropy network that is pushed too far often does
  not blow up: its ReLUs die and it predicts uniformly, loss ``ln(num_classes)`` (2.30), which
  is less than 4x any loss it reached, so the 4x stop never fires and the curve looks as if it
  had never risen. ``find_collapse`` calls it: the smoothed loss fell at least ``COLLAPSE_FALL``
  below chance, came back at least ``COLLAPSE_BACK`` of the way to chance (halfway: beta 0.98
  needs ~35 updates to come halfway back, and after a deep fall never reaches chance within
  fastai's 100 updates), and then most of the raw losses sit within ``COLLAPSE_SIT`` of chance
  (a divergence passes chance on its way up; a collapse stays there). The collapse rate is the
  first update from the smoothed minimum on whose raw loss is back at chance (the smoothed
  curve lags by tens of updates). The useful range ends there: the window stops before it, and
  the recommendation is ``collapse / 3``, with ``collapse / 10 .. collapse / 3`` as the range
  to try (Smith's rule of a base rate at 1/3 to 1/4 of the largest that trains, and fastai's
  ``minimum / 10``); never "raise end_lr".
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
SKIP_START = 10  # the rules start at num_updates // SKIP_START (fastai: num_it//10) ...
SKIP_END = 5  # ... and never see the last 5 updates recorded (fastai: [:-5])
SLIDE_LR_DIFF, SLIDE_THRESH, SLIDE_ADJUST = 15, 0.005, 1.0  # fastai's slide defaults
# ours
STEEP_HALF_WIDTH = 2  # steep: slopes fitted over 5 neighbouring points
RISE_TOLERANCE = 0.10  # first_rise: the smoothed loss this far above its running minimum
COLLAPSE_FALL = 0.005  # the smoothed loss first fell this fraction of chance below chance,
COLLAPSE_BACK = 0.5  # then came back this share of the way to chance,
COLLAPSE_SIT = 0.10  # and of the next COLLAPSE_LOOK raw losses at least COLLAPSE_SHARE lie
COLLAPSE_LOOK = 10  # within this fraction of chance: the network predicts uniformly
COLLAPSE_SHARE = 0.7
COLLAPSE_MIN_AFTER = 3  # fewer raw losses after the return cannot show that it stays there
COLLAPSE_AT = 0.02  # the collapse rate: the first raw loss within 2 % of chance (or above it)
COLLAPSE_DIVISORS = (10, 3)  # try rates up to collapse/10 .. collapse/3; recommend collapse/3
RULES = ("steep", "minimum", "valley", "slide", "first_rise")
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
    """fastai's grid: update ``i`` (0-based) uses ``start_lr * (end_lr / start_lr) ** (i / num_updates)``.

    fastai's ``LRFinder.before_batch`` sets the rate at ``train_iter / num_it`` before
    ``TrainEvalCallback.after_batch`` increments ``train_iter``, so the first update uses
    ``start_lr`` and the last one ``end_lr`` divided by one step's ratio: ``end_lr`` itself is
    never used (10 ** (8/100) below it with the defaults: 8.32)."""
    check_range(start_lr, end_lr, num_updates)
    return start_lr * (end_lr / start_lr) ** (np.arange(num_updates, dtype=np.float64) / num_updates)


@dataclass
class Smoother:
    """Exponential moving average with bias correction, and the stop rule, one update at a time.

    ``add(loss)`` returns the smoothed loss; ``stopped`` turns True once the smoothed loss exceeds
    ``stop_factor`` times its best (``stop`` = "diverged"), or a loss is not finite
    (``stop`` = "not finite": fastai keeps training on a NaN; the harness ends the test there).
    """

    beta: float = SMOOTHING
    stop_factor: float = STOP_FACTOR
    average: float = 0.0
    count: int = 0
    best: float = math.inf
    stopped: bool = False
    stop: str | None = None

    def add(self, loss: float) -> float:
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta**self.count)
        if not math.isfinite(smoothed):
            self.stopped, self.stop = True, "not finite"
            return smoothed
        self.best = min(self.best, smoothed)
        if smoothed > self.stop_factor * self.best:
            self.stopped, self.stop = True, "diverged"
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
class Collapse:
    """The network fell, then collapsed to chance: the end of the useful range."""

    index: int  # the first update, from the smoothed minimum on, whose raw loss is back at chance
    lr: float  # its rate: the collapse rate C
    fell_to: float  # the smoothed minimum before it
    fell_at: float  # the rate there
    chance: float  # ln(num_classes)

    @property
    def try_range(self) -> tuple[float, float]:
        return self.lr / COLLAPSE_DIVISORS[0], self.lr / COLLAPSE_DIVISORS[1]


@dataclass(frozen=True)
class Recommendation:
    lr: float | None  # None when the test cannot suggest a rate
    rule: str | None  # a rule of RULES, or "collapse/3"
    reason: str
    suggestions: dict[str, Suggestion | None] = field(default_factory=dict)
    collapse: Collapse | None = None
    window: tuple[int, int] = (0, 0)  # the updates [lo, hi) the rules read


def window(recorded: int, num_updates: int, collapse: Collapse | None = None) -> tuple[int, int]:
    """The index range [lo, hi) the rules look at: fastai's ``[num_it//10:-5]`` (a tenth of the
    *planned* updates, the last 5 *recorded* always dropped), ending before a collapse."""
    lo, hi = num_updates // SKIP_START, recorded - SKIP_END
    if collapse is not None:
        hi = min(hi, collapse.index)
    return lo, max(lo, hi)


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


def slide(lrs: np.ndarray, losses: np.ndarray, lr_diff: int = SLIDE_LR_DIFF, thresh: float = SLIDE_THRESH,
          adjust_value: float = SLIDE_ADJUST) -> tuple[int, float] | None:
    """fastai's ``slide``: the (index, rate) it suggests; None on fewer than ``lr_diff + 1`` points.

    From the end of the window walk left with two indices ``lr_diff`` apart while the per-update
    slopes (``np.gradient``) there differ by more than ``thresh``; the suggestion is the left
    index's rate at the last step taken (or the first left index, when no step is taken)."""
    n = len(losses)
    if n <= lr_diff or n < 2:
        return None
    grad = np.gradient(np.asarray(losses, dtype=np.float64))
    right, left = n - 1, n - 1 - lr_diff
    found = left
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        found = left
        right, left = right - 1, left - 1
    return found, float(lrs[found]) * adjust_value


def first_rise(smoothed: np.ndarray, tolerance: float = RISE_TOLERANCE) -> int | None:
    running = np.minimum.accumulate(smoothed)
    risen = np.flatnonzero(smoothed > running * (1 + tolerance))
    return int(risen[0]) if len(risen) else None


def find_collapse(lrs, losses, smoothed, chance: float, start: int = 0) -> Collapse | None:
    """A fall, then a return to chance that stays there (module docstring); None if none.

    ``losses`` are the raw losses, ``smoothed`` their EMA, ``chance`` = ln(num_classes); the
    scan starts at update ``start`` (the first the rules read)."""
    lrs, raw, s = (np.asarray(a, dtype=np.float64) for a in (lrs, losses, smoothed))
    best, best_at = math.inf, None
    for i in range(start, len(s)):
        if not math.isfinite(s[i]):
            break
        if s[i] < best:
            best, best_at = s[i], i
            continue
        fall = chance - best
        if fall < COLLAPSE_FALL * chance or s[i] < best + COLLAPSE_BACK * fall:
            continue
        after = raw[i : i + COLLAPSE_LOOK]
        if len(after) < COLLAPSE_MIN_AFTER:
            break
        near = np.abs(after - chance) <= COLLAPSE_SIT * chance  # NaN compares False: not near
        if near.mean() < COLLAPSE_SHARE:
            continue  # a divergence passing chance on its way up, or a spike: look further
        back = np.flatnonzero(raw[best_at : i + 1] >= chance * (1 - COLLAPSE_AT))
        at = best_at + int(back[0]) if len(back) else i
        return Collapse(at, float(lrs[at]), float(best), float(lrs[best_at]), float(chance))
    return None


def suggest(lrs, smoothed, bounds: tuple[int, int]) -> dict[str, Suggestion | None]:
    """The rules on a recorded curve (``lrs`` and ``smoothed`` of the updates done), reading the
    updates ``bounds = [lo, hi)`` (``window``); ``first_rise`` reads everything from ``lo`` on."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    lo, hi = bounds
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
    slid = slide(x, y)
    if slid is not None:
        out["slide"] = at("slide", *slid)
    finite = smoothed[lo:][np.isfinite(smoothed[lo:])] if lo < len(smoothed) else smoothed[:0]
    rise = first_rise(finite)  # the blow-up itself counts here
    if rise is not None:
        out["first_rise"] = Suggestion("first_rise", float(lrs[lo + rise]), lo + rise, float(smoothed[lo + rise]))
    return out


def recommend(lrs, smoothed, stopped: bool, *, num_updates: int | None = None, losses=None,
              num_classes: int | None = None) -> Recommendation:
    """The rules' suggestions, the one recommended and why.

    ``num_updates`` is the number planned (default: as many as recorded); ``losses`` (the raw
    losses) and ``num_classes`` let it tell a collapse to chance from a divergence."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    n = len(lrs)
    planned = n if num_updates is None else num_updates
    collapse = None
    if losses is not None and num_classes is not None and num_classes > 1:
        collapse = find_collapse(lrs, losses, smoothed, math.log(num_classes), planned // SKIP_START)
    bounds = window(n, planned, collapse)
    suggestions = suggest(lrs, smoothed, bounds)
    last = f"lr {float(lrs[-1]):.3g}" if n else "no update"
    if collapse is not None:
        low, high = collapse.try_range
        reason = (f"the loss fell to {collapse.fell_to:.3g} at rate {collapse.fell_at:.3g}, then the network collapsed "
                  f"at rate {collapse.lr:.3g} (loss back at chance, ln {num_classes} = {collapse.chance:.2f}); "
                  f"try rates up to about {low:.3g}-{high:.3g}")
        return Recommendation(high, f"collapse/{COLLAPSE_DIVISORS[1]}", reason, suggestions, collapse, bounds)
    chosen = suggestions[RECOMMENDED]
    if chosen is None or suggestions["minimum"] is None:
        if stopped and n and not math.isfinite(float(smoothed[-1])):
            why = f"the loss was not finite at update {n - 1} ({last}) before the rules had a curve to read"
        elif stopped and bounds[1] - bounds[0] < 3:
            why = (f"the smoothed loss passed {STOP_FACTOR:g}x its best after {n} updates ({last}), "
                   f"before the rules had a curve to read")
        else:
            why = f"the loss did not fall over the {n} updates recorded (up to {last})"
        return Recommendation(None, None, f"{why}; lower start_lr, or check the model and data",
                              suggestions, None, bounds)
    reason = "valley: middle of the longest descent of the smoothed loss, the rule least moved by noise (fastai's default)"
    rise = suggestions["first_rise"]
    if not stopped and rise is None:
        reason += (f"; the loss never rose up to the last rate, {last}, so this is a lower bound: raise end_lr")
    if rise is not None and chosen.lr >= rise.lr:
        reason += f"; it is at or above the first rise ({rise.lr:.3g}): use a smaller rate"
    return Recommendation(chosen.lr, RECOMMENDED, reason, suggestions, None, bounds)
