"""Small statistics for the report, numpy only (scipy is not installed): intervals, paired
differences, ranks.

- Differences (paired differences between schedules, the train − test gap): a two-sided 95% t
  interval over seeds, ``mean ± t(0.975, n-1) · s / sqrt(n)``, ``s`` the sample SD (ddof=1).
- Accuracies (values in [0, 1]): the same t interval computed on the logit scale,
  ``logit(a) = log(a / (1 - a))``, and mapped back, so it can never leave [0, 1]; it is
  asymmetric near the bounds. The point estimate stays the arithmetic mean over seeds.
- Either way, where the plain t interval would run outside the values' possible range, or the
  seeds are bimodal (some at chance, some learned), the interval says nothing: ``show_seeds``
  is set and the report shows the seeds instead.

One seed gives a mean and no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# t(0.975, df) for df = 1..30 (standard tables, 6 decimals); beyond 30 the Cornish-Fisher
# expansion below is within 1e-5 of the exact quantile.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)
_Z975 = 1.959963985


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the 95% two-sided factor)."""
    if df < 1:
        raise ValueError(f"{df=} must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True)
class Estimate:
    """Mean over seeds with its 95% interval (``low``, ``high``; None for a single seed).

    ``half`` is the plain t half-width (None for one seed); ``method`` says how low/high were
    computed ("t" or "logit t"); ``show_seeds`` says the interval is not a fair summary (the
    plain t interval runs outside the possible values, or the seeds are bimodal) and the seeds
    (``values``) should be shown instead."""

    mean: float
    half: float | None
    n: int
    sd: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = "t"
    show_seeds: bool = False
    values: tuple[float, ...] = ()

    def __post_init__(self):
        if self.half is not None and self.low is None:
            object.__setattr__(self, "low", self.mean - self.half)
            object.__setattr__(self, "high", self.mean + self.half)

    @property
    def has_interval(self) -> bool:
        return self.half is not None

    def excludes_zero(self) -> bool | None:
        """True when the interval lies wholly on one side of zero; None without an interval."""
        if self.half is None:
            return None
        return self.low > 0 or self.high < 0


def _finite(values) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def mean_ci(values, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Estimate | None:
    """Mean and 95% t interval of the finite values; None when there are none. ``bounds``: the
    range the values can take; a t interval that leaves it sets ``show_seeds``."""
    x = _finite(values)
    if x.size == 0:
        return None
    if x.size == 1:
        return Estimate(float(x[0]), None, 1, values=(float(x[0]),))
    sd = float(x.std(ddof=1))
    half = t975(x.size - 1) * sd / math.sqrt(x.size)
    mean = float(x.mean())
    wide = mean - half < bounds[0] or mean + half > bounds[1]
    return Estimate(mean, half, int(x.size), sd, show_seeds=wide, values=tuple(float(v) for v in x))


def bimodal(values, chance: float) -> bool:
    """Some seeds stayed below ``chance`` (never learned) and some did not."""
    x = _finite(values)
    return bool((x < chance).any() and (x >= chance).any())


def accuracy_ci(values, chance: float = 0.0, resolution: float = 1e-4) -> Estimate | None:
    """Mean of accuracies in [0, 1] and a 95% t interval on the logit scale, mapped back (it stays
    inside (0, 1)). Values are clipped to [resolution/2, 1 - resolution/2] before the logit (an
    accuracy of exactly 0 or 1 has none; ``resolution`` is one test image's share).
    ``show_seeds`` is set when the plain t interval runs outside [0, 1] or the seeds are bimodal
    around ``chance``."""
    plain = mean_ci(values, bounds=(0.0, 1.0))
    if plain is None or plain.n == 1:
        return plain
    x = np.clip(_finite(values), resolution / 2, 1 - resolution / 2)
    z = np.log(x / (1 - x))
    half_z = t975(x.size - 1) * float(z.std(ddof=1)) / math.sqrt(x.size)
    centre = float(z.mean())
    low, high = (1 / (1 + math.exp(-(centre + s * half_z))) for s in (-1, 1))
    return Estimate(plain.mean, plain.half, plain.n, plain.sd, low=low, high=high, method="logit t",
                    show_seeds=plain.show_seeds or bimodal(values, chance), values=plain.values)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Estimate | None:
    """Mean of ``a[seed] - b[seed]`` over the seeds both have, with its 95% t interval (differences
    of accuracies lie in [-1, 1]: an interval beyond that sets ``show_seeds``)."""
    seeds = sorted(set(a) & set(b))
    return mean_ci([a[s] - b[s] for s in seeds], bounds=(-1.0, 1.0)) if seeds else None


def competition_ranks(values, tolerance: float = 0.0) -> list[int]:
    """Ranks 1..n with 1 = largest; values within ``tolerance`` of each other share the better
    rank ("1, 1, 3": a tie takes two places)."""
    x = [float(v) for v in values]
    return [1 + sum(other > v + tolerance for other in x) for v in x]


def ranks(values) -> np.ndarray:
    """Ranks 1..n (1 = smallest), ties sharing their average rank."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(x.size, dtype=float)
    r[order] = np.arange(1, x.size + 1, dtype=float)
    for v in np.unique(x):
        tied = x == v
        if tied.sum() > 1:
            r[tied] = r[tied].mean()
    return r


def spearman(x, y) -> float | None:
    """Spearman's rank correlation (Pearson correlation of average ranks); None below 3 pairs
    or when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size != y.size:
        raise ValueError(f"{x.size=} and {y.size=} must match")
    if x.size < 3:
        return None
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return None if denom == 0 else float((rx * ry).sum() / denom)


def prediction_half_width(sd: float, n: int) -> float:
    """Half-width of the 95% prediction interval for one new run, from ``n`` runs with SD ``sd``:
    ``t(0.975, n-1) · sd · sqrt(1 + 1/n)``. A published figure is one run, so this is the
    band it should fall in if it came from the same distribution as ours."""
    if n < 2:
        raise ValueError(f"{n=} must be >= 2")
    return t975(n - 1) * sd * math.sqrt(1 + 1 / n)
