"""The report's statistics, on scipy (no hand-written tables): intervals, paired comparisons with
a smallest effect that matters, the Holm correction, success rates, rank agreement, power.

- Comparisons are paired by seed (same seed = same initial weights and batch order):
  ``paired_comparison(a, b)`` gives the mean of ``a - b`` with its t interval
  (``scipy.stats.ttest_rel(a, b).confidence_interval()``), the t-test's p-value, an exact
  paired permutation test (``scipy.stats.permutation_test``, the distribution-free check: no
  bootstrap below about 20 seeds), two one-sided tests against ``±SMALLEST_EFFECT`` and a label.
  A difference is "better"/"worse" only when its interval clears the smallest effect in that
  direction, "equivalent" when the interval lies inside ``±SMALLEST_EFFECT``, "identical" when
  every seed's difference is the same (no spread, no interval), else "inconclusive" with the
  true difference at which the design would reach a verdict (clear the smallest effect) with 80% power.
- A family of comparisons: ``holm_comparisons`` (Holm's step-down correction on scipy's
  p-values; each comparison's interval at its Holm step's level).
- Failures: ``success_rate`` (exact Clopper-Pearson interval, ``scipy.stats.binomtest``).
- Rankings: ``rank_agreement`` (Spearman's rho, exact permutation p-value).
- Planning: ``seeds_needed`` (paired t-test power from the noncentral t).
- One cell's accuracies (a mean over seeds and its interval): harness/report/estimates.py.

All of these are functions of their inputs: the permutation tests beyond exact enumeration use a
fixed generator, so a report of unchanged results is the same bytes.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps

SMALLEST_EFFECT = 0.003  # accuracy, i.e. 0.3 points: about one test-set standard error at 90% on 10,000 images
EXACT_PERMUTATIONS = 12  # paired (sign-flip) permutation tests enumerate all 2^n up to this many seeds
EXACT_PAIRINGS = 8  # rank agreement enumerates all n! orderings up to this many series
RESAMPLES = 9999  # beyond those: random permutations from a fixed generator
POWER = 0.8


def _rng_kw() -> str:
    # scipy >= 1.15 names the generator argument ``rng``; older releases ``random_state``
    return "rng" if "rng" in inspect.signature(sps.permutation_test).parameters else "random_state"


def pts(x: float, digits: int = 1) -> str:
    """Accuracy units as signed points: ``+0.3 pp``, with a true minus sign."""
    s = f"{100 * x:+.{digits}f}"
    if float(s) == 0:
        s = s[1:]
    return s.replace("-", "−") + " pp"


def _unsigned(x: float, digits: int = 1) -> str:
    return f"{100 * abs(x):.{digits}f} pp"


# ------------------------------------------------------------------------- paired comparisons


def _power(delta: float, sd: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` for a true mean difference ``delta``."""
    df = n - 1
    crit = sps.t.ppf(1 - alpha / 2, df)
    nc = delta * math.sqrt(n) / sd
    return _nct_power(crit, df, nc)


def _nct_power(crit: float, df: float, nc: float) -> float:
    p = float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))
    if not math.isfinite(p):  # scipy's noncentral t gives NaN far in its tail: there the power is 0 or 1
        return 1.0 if abs(nc) > crit else 0.0
    return min(1.0, p)


def detectable_difference(sd_diff: float, n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true difference a paired t-test on ``n`` seeds detects with ``power`` at
    ``alpha`` (two-sided), given the SD of the paired differences; inf below two seeds, 0 without spread."""
    if n < 2 or not math.isfinite(sd_diff):
        return math.inf
    if sd_diff == 0:
        return 0.0
    hi = sd_diff
    while _power(hi, sd_diff, n, alpha) < power:
        hi *= 2
        if hi > 1e6 * sd_diff:
            return math.inf
    return float(optimize.brentq(lambda d: _power(d, sd_diff, n, alpha) - power, 0.0, hi, xtol=1e-12 * max(1.0, hi)))


@dataclass(frozen=True)
class Comparison:
    """``a - b`` over the seeds both ran, in accuracy units (not points)."""

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_t: float  # scipy.stats.ttest_rel(a, b), two-sided
    p_perm: float  # paired permutation test (sign flips), exact up to EXACT_PERMUTATIONS seeds
    p_tost: float  # two one-sided t-tests against ±smallest_effect: the larger p
    label: str  # better | worse | equivalent | inconclusive | identical
    detectable: float  # the smallest difference this design detects with 80% power at its level
    confidence: float = 0.95  # the interval's level (a Holm step's level in a family)
    smallest_effect: float = SMALLEST_EFFECT
    p_holm: float = math.nan  # Holm-adjusted p_t, set by holm_comparisons

    @property
    def verdict_difference(self) -> float:
        """The true difference at which this design's interval would clear the smallest effect (a verdict
        of better or worse) with 80 % power: the smallest effect plus what a test against 0 detects, since
        the interval must clear the smallest effect, not 0 (the power of one tail dominates there)."""
        return self.smallest_effect + self.detectable

    @property
    def level(self) -> str:
        return f"{100 * self.confidence:.4g}%"

    def interval_text(self, digits: int = 2) -> str:
        return f"{pts(self.ci_low, digits)} to {pts(self.ci_high, digits)}"

    def reading(self) -> str:
        """The label in a few words, for a line that already gives the interval: better or worse by
        at least the interval's near end, equivalent, identical, or inconclusive with the smallest
        true difference this design would need for a verdict with 80 % power."""
        def unsigned(x: float) -> str:
            return f"{100 * abs(x):.2f} pp"

        if self.label == "identical":
            return f"identical on all {self.n} seeds" if self.mean_diff == 0 else \
                f"the same difference on all {self.n} seeds"
        return {"better": f"better by at least {unsigned(self.ci_low)}",
                "worse": f"worse by at least {unsigned(self.ci_high)}",
                "equivalent": f"equivalent within ±{unsigned(self.smallest_effect)}"}.get(
            self.label, f"inconclusive at {self.n} seeds (a verdict needs ≥ {unsigned(self.verdict_difference)} "
                        "for 80 % power)")

    def sentence(self, what_a: str, what_b: str) -> str:
        """One of the report's readings of this comparison, in points."""
        n, eps = self.n, self.smallest_effect
        if self.label == "identical":
            if self.mean_diff == 0:
                return f"{what_a} and {what_b}: identical on all {n} seeds"
            return (f"{what_a} vs {what_b}: the same difference, {pts(self.mean_diff, 2)}, on all {n} seeds "
                    "(no spread, so no interval)")
        ci = f"{self.level} interval {self.interval_text()}, n={n}"
        if self.label == "better":
            return f"{what_a} is better than {what_b} by at least {_unsigned(self.ci_low, 2)} ({ci})"
        if self.label == "worse":
            return f"{what_a} is worse than {what_b} by at least {_unsigned(self.ci_high, 2)} ({ci})"
        if self.label == "equivalent":
            return f"{what_a} and {what_b} are equivalent within ±{_unsigned(eps)} ({ci})"
        if n < 2:
            return f"{what_a} vs {what_b}: {pts(self.mean_diff, 2)} on one seed: no interval"
        detect = "no spread" if self.detectable == 0 else \
            f"this design reaches a verdict (beyond ±{_unsigned(eps)}) with 80 % power only at a true difference ≥ " \
            f"{_unsigned(self.verdict_difference, 2)}"
        return (f"{what_a} vs {what_b}: {pts(self.mean_diff, 2)}, inconclusive at {n} seeds: the interval is "
                f"{self.interval_text()}; {detect}")


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"paired samples must have equal length: {a.size=} and {b.size=}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _mean_diff_stat(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired permutation p-value of the mean difference (each seed's pair swapped or
    not): exact over all 2^n assignments up to EXACT_PERMUTATIONS seeds."""
    n = a.size
    resamples = math.inf if n <= EXACT_PERMUTATIONS else RESAMPLES
    kw = {_rng_kw(): np.random.default_rng(0)}
    res = sps.permutation_test((a, b), _mean_diff_stat, permutation_type="samples", vectorized=True,
                               n_resamples=resamples, alternative="two-sided", **kw)
    return float(min(1.0, res.pvalue))


def _label(lo: float, hi: float, eps: float) -> str:
    if lo > eps:
        return "better"
    if hi < -eps:
        return "worse"
    if -eps < lo and hi < eps:
        return "equivalent"
    return "inconclusive"


def paired_comparison(a, b, smallest_effect: float = SMALLEST_EFFECT, confidence: float = 0.95) -> Comparison:
    """``a - b`` paired by position (seed): interval, p-values, label (see the module docstring).
    Pairs where either value is not finite are dropped; no pair raises ValueError."""
    a, b = _paired(a, b)
    n = int(a.size)
    if n == 0:
        raise ValueError("no finite pair to compare; pass the seeds both runs finished")
    d = a - b
    mean = float(d.mean())
    alpha = 1 - confidence
    eps = float(smallest_effect)
    if n == 1:
        return Comparison(1, mean, math.nan, math.nan, math.nan, 1.0, math.nan, "inconclusive", math.inf,
                          confidence, eps)
    if np.ptp(d) == 0:
        # every seed moved by the same amount: no spread, no t statistic; the sign test is exact
        p_perm = permutation_p(a, b)
        p_t = 1.0 if mean == 0 else 0.0
        p_tost = 0.0 if abs(mean) < eps else 1.0
        return Comparison(n, mean, mean, mean, p_t, p_perm, p_tost, "identical", 0.0, confidence, eps)
    res = sps.ttest_rel(a, b)
    ci = res.confidence_interval(confidence_level=confidence)
    lo, hi = float(ci.low), float(ci.high)
    p_low = float(sps.ttest_1samp(d, -eps, alternative="greater").pvalue)
    p_high = float(sps.ttest_1samp(d, eps, alternative="less").pvalue)
    sd = float(d.std(ddof=1))
    return Comparison(n, mean, lo, hi, float(res.pvalue), permutation_p(a, b), max(p_low, p_high),
                      _label(lo, hi, eps), detectable_difference(sd, n, alpha), confidence, eps)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (a NaN counts as 1)."""
    p = np.array([1.0 if v is None or not math.isfinite(v) else float(v) for v in pvalues])
    m = p.size
    order = np.argsort(p, kind="mergesort")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def holm_comparisons(pairs: list[tuple], smallest_effect: float = SMALLEST_EFFECT,
                     family_alpha: float = 0.05) -> list[Comparison]:
    """A family of paired comparisons, Holm-corrected: the comparison with the r-th smallest
    t-test p-value (r = 1..m) gets its interval at level ``1 - family_alpha / (m - r + 1)`` and
    its label is decided on that interval, until Holm stops (the first p above its step's alpha):
    that comparison and every later one get the stopping level, never a later, looser one.
    ``p_holm`` is the Holm-adjusted p-value."""
    first = [paired_comparison(a, b, smallest_effect) for a, b in pairs]
    m = len(first)
    if m == 0:
        return []
    p = [c.p_t for c in first]
    adjusted = holm(p)
    order = np.argsort([1.0 if not math.isfinite(v) else v for v in p], kind="mergesort")
    out: list[Comparison | None] = [None] * m
    stopped = None
    for rank, i in enumerate(order):
        step_alpha = family_alpha / (m - rank)
        if stopped is None and not (math.isfinite(p[i]) and p[i] <= step_alpha):
            stopped = 1 - step_alpha
        level = stopped if stopped is not None else 1 - step_alpha
        a, b = pairs[i]
        c = paired_comparison(a, b, smallest_effect, confidence=level)
        out[i] = Comparison(**{**c.__dict__, "p_holm": adjusted[i]})
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------- rates, ranks, power


def success_rate(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(k / n, low, high): the exact (Clopper-Pearson) interval of a success rate."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"{k=} successes of {n=} runs: need 0 <= k <= n and n >= 1")
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return k / n, float(ci.low), float(ci.high)


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    return float(sps.spearmanr(x, y).statistic)


def rank_agreement(x, y) -> tuple[float, float, int]:
    """(Spearman's rho, two-sided permutation p-value, n). The p-value enumerates all n!
    orderings of ``y`` up to EXACT_PAIRINGS series, else RESAMPLES random ones (fixed
    generator). NaN rho and p below 3 pairs or when either side is constant."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"{x.size=} and {y.size=} must match")
    n = int(x.size)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, n
    rho = _rho(x, y)
    tol = 1e-12
    if n <= EXACT_PAIRINGS:
        rx, ry = sps.rankdata(x), sps.rankdata(y)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        denom = math.sqrt(float((rx ** 2).sum() * (ry ** 2).sum()))
        perms = np.array(list(itertools.permutations(range(n))))
        rhos = (ry[perms] @ rx) / denom
        p = float(np.mean(np.abs(rhos) >= abs(rho) - tol))
    else:
        kw = {_rng_kw(): np.random.default_rng(0)}
        res = sps.permutation_test((x, y), lambda u, v: sps.spearmanr(u, v).statistic, permutation_type="pairings",
                                   n_resamples=RESAMPLES, alternative="two-sided", **kw)
        p = float(min(1.0, res.pvalue))
    return rho, p, n


def seeds_needed(sd_diff: float, effect: float, comparisons: int = 1, power: float = POWER,
                 alpha: float = 0.05) -> int:
    """Seeds a paired t-test needs to detect ``effect`` with ``power`` when the paired
    differences have SD ``sd_diff``, at the Holm/Bonferroni worst case ``alpha / comparisons``."""
    if effect <= 0:
        raise ValueError(f"{effect=} must be > 0")
    if comparisons < 1:
        raise ValueError(f"{comparisons=} must be >= 1")
    if sd_diff <= 0:
        return 2
    level = alpha / comparisons
    for n in range(2, 100_001):
        if _power(effect, sd_diff, n, level) >= power:
            return n
    raise ValueError(f"more than 100000 seeds needed for {effect=} at {sd_diff=}")


def competition_ranks(values, tolerance: float = 0.0) -> list[int]:
    """Ranks 1..n with 1 = largest; values within ``tolerance`` of each other share the better
    rank ("1, 1, 3": a tie takes two places)."""
    x = [float(v) for v in values]
    return [1 + sum(other > v + tolerance for other in x) for v in x]


def ranks(values) -> np.ndarray:
    """Ranks 1..n (1 = smallest), ties sharing their average rank."""
    return sps.rankdata(np.asarray(values, dtype=float))


def spearman(x, y) -> float | None:
    """Spearman's rank correlation; None below 3 pairs or when either side is constant."""
    rho, _, _ = rank_agreement(x, y)
    return None if math.isnan(rho) else rho


def disagreement_power(groups: Sequence, shift: float, alpha: float = 0.05) -> float | None:
    """The power of the one-way ANOVA "the groups' (frameworks') means are equal" at ``alpha`` if one
    group (the one with the fewest values: the hardest case) were shifted by ``shift``, at the observed
    spread within groups (noncentral F); None with fewer than two groups of two or no spread. "No
    disagreement detected" means little where this is low."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g) >= 2]
    if len(groups) < 2:
        return None
    resid = np.concatenate([g - g.mean() for g in groups])
    n, k = len(resid), len(groups)
    if not resid.any():
        return None
    var = float((resid ** 2).sum() / (n - k))
    sizes = np.array([len(g) for g in groups], dtype=float)
    means = np.zeros(k)
    means[int(np.argmin(sizes))] = shift
    grand = float((sizes * means).sum() / sizes.sum())
    lam = float((sizes * (means - grand) ** 2).sum() / var)
    return float(sps.ncf.sf(sps.f.ppf(1 - alpha, k - 1, n - k), k - 1, n - k, lam))


def blocked_comparison(blocks: Sequence[tuple], smallest_effect: float = SMALLEST_EFFECT,
                       confidence: float = 0.95) -> tuple[Comparison, float]:
    """``a - b`` pooled over blocks (frameworks), each block's pairs paired by seed: the mean of
    every paired difference with a t interval whose SD is the residual SD within blocks
    (degrees of freedom: pairs − blocks), so a framework's offset is not counted as noise. Also
    the one-way ANOVA p-value (``scipy.stats.f_oneway``) of "the blocks' differences are equal":
    small means the frameworks disagree. NaN for it with fewer than two blocks of two pairs."""
    diffs = [np.subtract(*_paired(a, b)) for a, b in blocks]
    diffs = [d for d in diffs if d.size]
    if not diffs:
        raise ValueError("no finite pair in any block; pass the seeds both runs finished")
    if len(diffs) == 1:
        d = diffs[0]
        return paired_comparison(d, np.zeros_like(d), smallest_effect, confidence), math.nan
    d = np.concatenate(diffs)
    n, k = int(d.size), len(diffs)
    mean = float(d.mean())
    resid = np.concatenate([x - x.mean() for x in diffs])
    dof = n - k
    eps = float(smallest_effect)
    between = (float(sps.f_oneway(*diffs).pvalue) if all(x.size >= 2 for x in diffs) and resid.any()
               else math.nan)
    if np.ptp(d) == 0:
        p_perm = permutation_p(d, np.zeros_like(d))
        return Comparison(n, mean, mean, mean, 1.0 if mean == 0 else 0.0, p_perm, 0.0 if abs(mean) < eps else 1.0,
                          "identical", 0.0, confidence, eps), between
    if dof < 1 or not resid.any():
        c = paired_comparison(d, np.zeros_like(d), smallest_effect, confidence)
        return c, between
    sd = float(math.sqrt((resid ** 2).sum() / dof))
    se = sd / math.sqrt(n)
    half = float(sps.t.ppf(1 - (1 - confidence) / 2, dof)) * se
    lo, hi = mean - half, mean + half
    p_t = float(2 * sps.t.sf(abs(mean) / se, dof))
    p_tost = max(float(sps.t.sf((mean + eps) / se, dof)), float(sps.t.cdf((mean - eps) / se, dof)))
    # the power of this design: n pairs, residual SD sd, dof degrees of freedom
    alpha = 1 - confidence
    crit = sps.t.ppf(1 - alpha / 2, dof)

    def power(delta: float) -> float:
        return _nct_power(crit, dof, delta / se)

    top = sd
    while power(top) < POWER:
        top *= 2
    detect = float(optimize.brentq(lambda x: power(x) - POWER, 0.0, top, xtol=1e-12))
    return Comparison(n, mean, lo, hi, p_t, permutation_p(d, np.zeros_like(d)), p_tost, _label(lo, hi, eps), detect,
                      confidence, eps), between
