"""One cell's numbers: the mean over seeds with its 95% interval, on scipy's t quantiles.

- ``mean_ci``: a t interval; ``accuracy_ci``: a t interval on the logit scale mapped back (it
  stays inside [0, 1]); where the seeds are bimodal or a plain t interval would leave [0, 1] the
  report shows the seeds instead (``Estimate.show_seeds``).
- ``paired_difference``: the mean of two cells' seed-by-seed differences, with its interval.
- ``prediction_half_width``: the band one new run (a published figure) should fall in.

Comparisons between cells (paired tests, Holm, power) are harness/report/stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    if not df >= 1:
        raise ValueError(f"{df=} must be >= 1")
    return float(sps.t.ppf(q, df))


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t (the 95% two-sided factor)."""
    return t_quantile(0.975, df)


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
    # the interval is around the logit mean, the point is the plain mean: with no spread (every
    # seed equal) or a skewed one the round trip can put an end past the point; it holds it
    low, high = min(low, plain.mean), max(high, plain.mean)
    return Estimate(plain.mean, plain.half, plain.n, plain.sd, low=low, high=high, method="logit t",
                    show_seeds=plain.show_seeds or bimodal(values, chance), values=plain.values)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Estimate | None:
    """Mean of ``a[seed] - b[seed]`` over the seeds both have, with its 95% t interval (differences
    of accuracies lie in [-1, 1]: an interval beyond that sets ``show_seeds``)."""
    seeds = sorted(set(a) & set(b))
    return mean_ci([a[s] - b[s] for s in seeds], bounds=(-1.0, 1.0)) if seeds else None


def prediction_half_width(sd: float, n: int, df: int | None = None) -> float:
    """Half-width of the 95% prediction interval for one new run against the mean of ``n`` runs:
    ``t(0.975, df) · sd · sqrt(1 + 1/n)``, ``df`` the degrees of freedom of ``sd`` (``n - 1``
    when it is these runs' own SD; more when it is pooled over cells). A published figure is one
    run, so this is the band it should fall in if it came from the same distribution as ours."""
    df = n - 1 if df is None else df
    if n < 1 or df < 1:
        raise ValueError(f"{n=} runs with {df=} degrees of freedom: need n >= 1 and df >= 1")
    return t975(df) * sd * math.sqrt(1 + 1 / n)
