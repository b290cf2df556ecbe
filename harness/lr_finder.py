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
- ``valley`` (fastai's default since 2.5): the longest decreasing subsequence
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
- the length (not fastai's 100 updates): the command's default is ``TEST_EPOCHS`` epochs' worth
  of the run's batches from ``TEST_START_LR``, so a batch of 1024 gets a quarter of the updates of
  a batch of 256, as its runs do; ``num_updates`` still gives a fixed count.
- death (not fastai's). A 10-class cross-entropy network that is pushed too far often does not
  blow up: its ReLUs die and it predicts uniformly, loss ``ln(num_classes)`` (2.30), which is less
  than 4x any loss it reached, so the 4x stop never fires. It often spikes first and recovers
  (the raw loss near chance for ten updates, then learning again), so ``find_collapse`` reads
  the death at the end: after the last sign of life (a raw loss ``LIFE_BAND`` below chance) at
  least ``COLLAPSE_MIN_AFTER`` raw losses, most within ``COLLAPSE_SIT`` of chance, after a fall of
  the smoothed loss (a divergence passes chance and goes on up; a loss settling above chance,
  Adam's, is not a death). The useful range and the rules' window end there.
- the recommendation (not fastai's ``valley``): the edge of the useful range, divided by
  ``EDGE_DIVISOR``: the death rate C when the network died, else the rate of the smoothed minimum
  (where the loss turns up); divided by 3 for SGD (Smith's base rate at a third of the largest
  that trains), by 10 for an adaptive optimizer (fastai's ``minimum/10``, made for Adam), whose
  window also ends at its first rise. Measured against a validation grid in
  docs/finding_the_rate.md; fastai's rules stay available, named as the rates they suggest.
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
COLLAPSE_FALL = 0.005  # the smoothed loss first fell this fraction of chance below chance;
LIFE_BAND = 0.05  # a raw loss this fraction of chance below chance is a sign of life;
COLLAPSE_MIN_AFTER = 10  # after the last sign of life at least this many raw losses, of which
COLLAPSE_SHARE = 0.7  # at least this share lie within COLLAPSE_SIT of chance: uniform predictions
COLLAPSE_SIT = 0.10
# The recommendation: the edge of the useful range divided by this (Smith's base rate at a third
# of the largest that trains; fastai's minimum/10 for the adaptive optimizers it trains with).
EDGE_DIVISOR = {"sgd": 3, "adaptive": 10}
# The command's defaults (fastai's are START_LR and NUM_UPDATES above): the test lasts EPOCHS
# epochs' worth of the run's batches, so a larger batch gets fewer updates, as its runs do.
TEST_START_LR = 1e-5
TEST_EPOCHS = 3
RULES = ("steep", "minimum", "valley", "slide", "first_rise")
# What each rule's rate is, as the printed line and the figure name it.
LABEL = {"minimum": "minimum/10", "first_rise": "first rise"}


NOT_FINITE = "loss not finite"
# What range tests written before this wording said in their `stop` column.
OLD_STOPS = {"diverged": f"smoothed loss above {STOP_FACTOR:g}x its best", "not finite": NOT_FINITE}


def above(stop_factor: float = STOP_FACTOR) -> str:
    """The stop reason of the stop rule, as the parquet and the printed line both say it."""
    return f"smoothed loss above {stop_factor:g}x its best"


def check_range(start_lr: float, end_lr: float, num_updates: int | None) -> None:
    """Raise ValueError naming the bad value (``num_updates`` None: not known yet)."""
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}={value} must be a positive finite learning rate")
    if start_lr >= end_lr:
        raise ValueError(f"start_lr={start_lr} must be below end_lr={end_lr}")
    if num_updates is not None and num_updates < MIN_UPDATES:
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
    ``stop_factor`` times its best (``stop`` = "smoothed loss above 4x its best"), or a loss is not
    finite (``stop`` = ``NOT_FINITE``: fastai keeps training on a NaN; the harness ends the test
    there). ``stop`` is what the parquet's ``stop`` column holds and what the printed line says.
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
            self.stopped, self.stop = True, NOT_FINITE
            return smoothed
        self.best = min(self.best, smoothed)
        if smoothed > self.stop_factor * self.best:
            self.stopped, self.stop = True, above(self.stop_factor)
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
    """The network fell, then died: its raw loss back at chance for good. The useful range ends here."""

    index: int  # the first update after the last sign of life (a raw loss well below chance)
    lr: float  # its rate: the collapse rate C
    fell_to: float  # the smoothed minimum before it
    fell_at: float  # the rate there
    chance: float  # ln(num_classes)


@dataclass(frozen=True)
class Recommendation:
    lr: float | None  # None when the test cannot suggest a rate
    rule: str | None  # "collapse/3", "minimum/3" (SGD), "collapse/10", "minimum/10" (adaptive)
    reason: str
    suggestions: dict[str, Suggestion | None] = field(default_factory=dict)
    collapse: Collapse | None = None
    window: tuple[int, int] = (0, 0)  # the updates [lo, hi) the rules read
    edge: float | None = None  # the end of the useful range the recommendation divides


def window(recorded: int, num_updates: int, collapse: Collapse | None = None, end: int | None = None) -> tuple[int, int]:
    """The index range [lo, hi) the rules look at: fastai's ``[num_it//10:-5]`` (a tenth of the
    *planned* updates, the last 5 *recorded* always dropped), ending before a collapse and before
    ``end`` (an adaptive optimizer's first rise)."""
    lo, hi = num_updates // SKIP_START, recorded - SKIP_END
    for stop in (collapse.index if collapse is not None else None, end):
        if stop is not None:
            hi = min(hi, stop)
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
    """The network died: after its last sign of life (a raw loss ``LIFE_BAND`` of chance below
    chance) come at least ``COLLAPSE_MIN_AFTER`` raw losses, most of them within ``COLLAPSE_SIT``
    of chance, and before it the smoothed loss fell ``COLLAPSE_FALL`` of chance below chance.
    None otherwise: a spike the network recovers from, a divergence (which passes chance and
    goes on up, or ends the test), a loss that settles above chance, or one that never fell.

    ``losses`` are the raw losses, ``smoothed`` their EMA, ``chance`` = ln(num_classes); the
    scan starts at update ``start`` (the first the rules read)."""
    lrs, raw, s = (np.asarray(a, dtype=np.float64) for a in (lrs, losses, smoothed))
    alive = np.flatnonzero(raw[start:] < chance * (1 - LIFE_BAND))  # NaN compares False
    if not len(alive):
        return None
    index = start + int(alive[-1]) + 1
    after = raw[index:]
    if len(after) < COLLAPSE_MIN_AFTER:
        return None
    if (np.abs(after - chance) <= COLLAPSE_SIT * chance).mean() < COLLAPSE_SHARE:
        return None
    before = s[start:index]
    if not np.isfinite(before).all():
        return None
    best_at = start + int(np.argmin(before))
    if chance - s[best_at] < COLLAPSE_FALL * chance:
        return None
    return Collapse(index, float(lrs[index]), float(s[best_at]), float(lrs[best_at]), float(chance))


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
              num_classes: int | None = None, adaptive: bool = False) -> Recommendation:
    """fastai's rules' suggestions, the one recommended and why.

    ``num_updates`` is the number planned (default: as many as recorded); ``losses`` (the raw
    losses) and ``num_classes`` let it tell a collapse to chance from a divergence; ``adaptive``
    (Adam and the like) ends the window at the first rise and divides the edge by 10, not 3.

    The recommendation is the edge of the useful range divided by ``EDGE_DIVISOR``: the edge is
    the collapse rate C when the network died, else the rate of the smoothed minimum (where the
    loss stops falling: it diverges, or, for an adaptive optimizer, settles above its best)."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    n = len(lrs)
    planned = n if num_updates is None else num_updates
    lo = planned // SKIP_START
    collapse = None
    if losses is not None and num_classes is not None and num_classes > 1:
        collapse = find_collapse(lrs, losses, smoothed, math.log(num_classes), lo)
    end = None
    if adaptive and lo < n:
        finite = smoothed[lo:]
        finite = finite[: len(finite) if np.isfinite(finite).all() else int(np.argmin(np.isfinite(finite)))]
        rise = first_rise(finite)
        end = None if rise is None else lo + rise
    bounds = window(n, planned, collapse, end)
    suggestions = suggest(lrs, smoothed, bounds)
    divisor = EDGE_DIVISOR["adaptive" if adaptive else "sgd"]
    last = f"lr {float(lrs[-1]):.3g}" if n else "no update"
    if collapse is not None and (end is None or collapse.index <= end):
        reason = (f"the loss fell to {collapse.fell_to:.3g} at rate {collapse.fell_at:.3g}, then the network died at "
                  f"rate {collapse.lr:.3g} (loss back at chance, ln {num_classes} = {collapse.chance:.2f}, for good); "
                  f"collapse/{divisor} = {collapse.lr / divisor:.3g}")
        return Recommendation(collapse.lr / divisor, f"collapse/{divisor}", reason, suggestions, collapse, bounds,
                              collapse.lr)
    minimum = suggestions["minimum"]
    if minimum is None:
        if stopped and n and not math.isfinite(float(smoothed[-1])):
            why = f"the loss was not finite at update {n - 1} ({last}) before the rules had a curve to read"
        elif stopped and bounds[1] - bounds[0] < 3:
            why = (f"the smoothed loss passed {STOP_FACTOR:g}x its best after {n} updates ({last}), "
                   f"before the rules had a curve to read")
        else:
            why = f"the loss did not fall over the {n} updates recorded (up to {last})"
        return Recommendation(None, None, f"{why}; lower start_lr, or check the model and data",
                              suggestions, collapse, bounds)
    edge = float(lrs[minimum.index])
    lr = edge / divisor
    rule = f"minimum/{divisor}"
    if end is not None:
        how = "then rose above it (an adaptive optimizer: the window ends at that first rise)"
    elif stopped:
        how = "then rose until the test stopped"
    else:
        how = "then rose"
    reason = f"the smoothed loss was lowest, {minimum.loss:.3g}, at rate {edge:.3g}, {how}; {rule} = {lr:.3g}"
    if not stopped and suggestions["first_rise"] is None and collapse is None:
        reason = (f"the smoothed loss fell up to the last rate, {last}, and never rose: {rule} = {lr:.3g} is a "
                  f"lower bound: raise end_lr")
    return Recommendation(lr, rule, reason, suggestions, collapse, bounds, edge)
