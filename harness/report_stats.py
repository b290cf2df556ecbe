"""Small statistics for the report, numpy only (no scipy): t intervals, paired differences, ranks.

Every interval is a two-sided 95% t interval over seeds: ``mean ± t(0.975, n-1) · s / sqrt(n)``
with ``s`` the sample standard deviation (ddof=1). One seed gives a mean and no interval.
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
    """Mean over seeds with its 95% t interval; ``half`` is None for a single seed."""

    mean: float
    half: float | None
    n: int
    sd: float | None = None

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    def excludes_zero(self) -> bool | None:
        """True when the interval lies wholly on one side of zero; None without an interval."""
        if self.half is None:
            return None
        return self.low > 0 or self.high < 0


def mean_ci(values) -> Estimate | None:
    """Mean and 95% t interval of the finite values; None when there are none."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return None
    if x.size == 1:
        return Estimate(float(x[0]), None, 1)
    sd = float(x.std(ddof=1))
    return Estimate(float(x.mean()), t975(x.size - 1) * sd / math.sqrt(x.size), int(x.size), sd)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Estimate | None:
    """Mean of ``a[seed] - b[seed]`` over the seeds both have, with its 95% t interval."""
    seeds = sorted(set(a) & set(b))
    return mean_ci([a[s] - b[s] for s in seeds]) if seeds else None


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
