"""A study's decisions: each declared comparison of one family reaches a verdict only when its interval
clears the smallest effect in the claimed direction, and says what it could decide.

The rules, fixed here before any confirmatory run is read:

- **Pairs.** ``a - b`` per (framework, seed): same initial weights and batch order.
- **Frameworks.** Pooled over frameworks, the framework is a fixed term: the estimate is the mean of
  every pair (so each framework weighs by its seeds, e.g. 10 : 3 : 3, said in the report) and its
  standard error is the residual spread *within* frameworks (pairs - frameworks degrees of freedom),
  so one framework's offset is not counted as noise. The per-framework differences are shown beside it, and whether the frameworks differ is a one-way ANOVA
  printed with its power ("no disagreement detected (power X for a Y-point shift of one framework)");
  where it detects a disagreement (p < 0.05) the pooled verdict is withheld: an average over
  frameworks that disagree answers no one's question.
- **Holm, one family per study.** Ordered by the two-sided p-value of "no difference"; the r-th is
  tested at alpha / (m - r + 1). At the first that is not rejected the procedure stops, and it and
  every later comparison get their interval at that *stopping level*, never a looser one.
- **Verdicts.** ``better`` (superiority): supported when the interval's low end is above the
  smallest effect; contradicted when its high end is below 0 or the whole interval lies inside
  +-smallest effect. ``not_worse`` (non-inferiority, not equivalence): supported when the low end is
  above -smallest effect; contradicted when the high end is below it. Else undecided.
- **Failed seeds.** When a seed of either arm failed (never learned, diverged, collapsed: it counts
  at chance and can move a t interval by tens of points), the verdict comes from the exact Wilcoxon
  signed-rank test of the differences against the same bounds, one-sided at half the decision level
  (the tail a two-sided interval leaves), and the t interval is shown beside it.
- **Power.** For each comparison: the probability that the interval at its decision level clears
  the bound for ``supported`` (noncentral t, at the observed spread and n) if the true difference
  were the observed one; the true difference that would give 80 %; and the seeds that would give
  80 % at the observed difference (none when the observed difference does not clear the bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy import stats as sps

POWER = 0.8
SUPPORTED, CONTRADICTED, UNDECIDED = "supported", "contradicted", "undecided"
KIND_WORDS = {"better": "superiority: a beats b by more than the smallest effect",
              "not_worse": "non-inferiority: a is not worse than b by more than the smallest effect"}


@dataclass
class Estimate:
    n: int
    mean: float
    se: float
    df: float
    per_framework: dict  # framework -> (n, mean, sd)

    def interval(self, level: float) -> tuple[float, float]:
        if self.n < 2 or not math.isfinite(self.se):
            return -math.inf, math.inf
        if self.se == 0:
            return self.mean, self.mean
        half = float(sps.t.ppf(1 - (1 - level) / 2, self.df)) * self.se
        return self.mean - half, self.mean + half

    @property
    def p_zero(self) -> float:
        """Two-sided p-value of "no difference"."""
        if self.n < 2 or not math.isfinite(self.se):
            return 1.0
        if self.se == 0:
            return 1.0 if self.mean == 0 else 0.0
        return float(2 * sps.t.sf(abs(self.mean) / self.se, self.df))


def estimate(diffs: dict[str, np.ndarray]) -> Estimate:
    """The pooled difference with a framework term (see the module docstring)."""
    groups = {f: np.asarray(d, float) for f, d in diffs.items() if len(d)}
    n = sum(len(d) for d in groups.values())
    per = {f: (len(d), float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else math.nan) for f, d in groups.items()}
    if not groups:
        return Estimate(0, math.nan, math.nan, math.nan, {})
    if len(groups) == 1:
        d = next(iter(groups.values()))
        sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        return Estimate(len(d), float(d.mean()), sd / math.sqrt(len(d)), len(d) - 1, per)
    # the framework as a fixed term: each pair weighs once (so a framework weighs by its seeds), and the
    # spread is the residual within frameworks, so one framework's offset is not counted as noise
    d = np.concatenate(list(groups.values()))
    resid = np.concatenate([g - g.mean() for g in groups.values()])
    df = n - len(groups)
    if df < 1:
        return Estimate(n, float(d.mean()), math.inf, math.nan, per)
    sd = math.sqrt(float((resid ** 2).sum()) / df)
    return Estimate(n, float(d.mean()), sd / math.sqrt(n), df, per)


def _bound(kind: str, smallest: float) -> float:
    return smallest if kind == "better" else -smallest


def verdict_of(kind: str, lo: float, hi: float, smallest: float) -> str:
    if kind == "better":
        if lo > smallest:
            return SUPPORTED
        if hi < 0 or (lo > -smallest and hi < smallest):
            return CONTRADICTED
        return UNDECIDED
    if lo > -smallest:
        return SUPPORTED
    return CONTRADICTED if hi < -smallest else UNDECIDED


def signed_rank_verdict(diffs: np.ndarray, kind: str, smallest: float, level: float) -> tuple[str, float, float]:
    """(verdict, p for supported, p for contradicted) from exact one-sided signed-rank tests at
    half the decision level's alpha."""
    alpha = (1 - level) / 2
    bound = _bound(kind, smallest)
    method = "exact" if len(diffs) <= 50 else "auto"
    p_sup = float(sps.wilcoxon(diffs - bound, alternative="greater", method=method).pvalue)
    upper = 0.0 if kind == "better" else -smallest
    p_con = float(sps.wilcoxon(diffs - upper, alternative="less", method=method).pvalue)
    if p_sup < alpha:
        return SUPPORTED, p_sup, p_con
    if p_con < alpha:
        return CONTRADICTED, p_sup, p_con
    return UNDECIDED, p_sup, p_con


def power_to_support(est: Estimate, kind: str, smallest: float, level: float, true_diff: float | None = None,
                     n: int | None = None) -> float:
    """P(the interval's low end clears the bound) if the true difference were ``true_diff`` (default:
    the observed one), with ``n`` pairs (default: the observed number) at the observed spread."""
    true_diff = est.mean if true_diff is None else true_diff
    n = est.n if n is None else n
    if est.n < 2 or not math.isfinite(est.se) or n < 2:
        return math.nan
    sd = est.se * math.sqrt(est.n)
    if sd == 0:
        return 1.0 if true_diff > _bound(kind, smallest) else 0.0
    df = max(1.0, est.df * (n - 1) / max(1, est.n - 1))
    crit = float(sps.t.ppf(1 - (1 - level) / 2, df))
    ncp = (true_diff - _bound(kind, smallest)) / (sd / math.sqrt(n))
    p = float(sps.nct.sf(crit, df, ncp))
    return p if math.isfinite(p) else (1.0 if ncp > crit else 0.0)


def difference_for_power(est: Estimate, kind: str, smallest: float, level: float) -> float:
    """The true difference that the interval would clear with 80 % power at these seeds and spread."""
    if est.n < 2 or not math.isfinite(est.se):
        return math.inf
    if est.se == 0:
        return _bound(kind, smallest)
    lo, hi = _bound(kind, smallest), _bound(kind, smallest) + 1.0
    while power_to_support(est, kind, smallest, level, hi) < POWER:
        hi += 1.0
    return float(optimize.brentq(lambda d: power_to_support(est, kind, smallest, level, d) - POWER, lo, hi))


def seeds_for_power(est: Estimate, kind: str, smallest: float, level: float, limit: int = 10_000) -> int | None:
    """Seeds (pairs) for 80 % power at the observed difference and spread; None when the observed
    difference does not clear the bound (no number of seeds would support the claim then)."""
    if est.n < 2 or not math.isfinite(est.se) or est.mean <= _bound(kind, smallest):
        return None
    for n in range(2, limit + 1):
        if power_to_support(est, kind, smallest, level, n=n) >= POWER:
            return n
    return None


def framework_disagreement(per_framework_diffs: dict[str, np.ndarray], shift: float) -> tuple[float, float] | None:
    """(ANOVA p-value that the frameworks' mean differences are equal, power of that test at 0.05 for
    one framework shifted by ``shift`` at the observed within-framework spread); None with fewer than
    two frameworks of two pairs."""
    from harness.report.stats import disagreement_power

    groups = [np.asarray(d, float) for d in per_framework_diffs.values() if len(d) >= 2]
    power = disagreement_power(groups, shift)
    if power is None:
        return None
    return float(sps.f_oneway(*groups).pvalue), power


@dataclass
class Decision:
    claim: str
    a: str
    b: str
    kind: str
    estimate: Estimate
    level: float = 0.95
    lo: float = math.nan
    hi: float = math.nan
    verdict: str = UNDECIDED
    rule: str = "t interval"
    signed_rank: tuple | None = None  # (verdict, p supported, p contradicted) where a seed failed
    failed: int = 0
    power: float = math.nan
    diff_80: float = math.inf
    seeds_80: int | None = None
    disagreement: tuple | None = None
    held_at_stop: bool = False  # Holm stopped at or before this comparison: its level is the stopping level
    extra: dict = field(default_factory=dict)


def decide(comparisons, values: dict[str, dict[tuple, float]], smallest: float, failed: dict[str, set] | None = None,
           alpha: float = 0.05, shift: float | None = None) -> list[Decision]:
    """One family: every comparison of ``comparisons`` (objects with claim, a, b, kind) on ``values``
    (arm -> {(framework, seed): metric}) and ``failed`` (arm -> the (framework, seed) keys that failed)."""
    failed = failed or {}
    out = []
    for c in comparisons:
        va, vb = values.get(c.a, {}), values.get(c.b, {})
        keys = sorted(set(va) & set(vb))
        diffs: dict[str, list] = {}
        for key in keys:
            diffs.setdefault(key[0], []).append(va[key] - vb[key])
        est = estimate({f: np.array(d) for f, d in diffs.items()})
        d = Decision(c.claim, c.a, c.b, c.kind, est)
        d.failed = sum(k in failed.get(c.a, set()) or k in failed.get(c.b, set()) for k in keys)
        d.extra["diffs"] = np.array([va[k] - vb[k] for k in keys])
        if len(diffs) > 1:
            d.disagreement = framework_disagreement({f: np.array(v) for f, v in diffs.items()},
                                                    shift if shift is not None else 2 * smallest)
        out.append(d)
    m = len(out)
    order = sorted(range(m), key=lambda i: out[i].estimate.p_zero)
    stop_level = None
    for rank, i in enumerate(order):
        level = 1 - alpha / (m - rank)
        if stop_level is None and out[i].estimate.p_zero > alpha / (m - rank):
            stop_level = level  # Holm stops here: this and every later comparison at this level
        d = out[i]
        d.level = stop_level if stop_level is not None else level
        d.held_at_stop = stop_level is not None
        d.lo, d.hi = d.estimate.interval(d.level)
        d.verdict = verdict_of(d.kind, d.lo, d.hi, smallest) if d.estimate.n >= 2 else UNDECIDED
        if d.failed and d.estimate.n >= 2:
            d.signed_rank = signed_rank_verdict(d.extra["diffs"], d.kind, smallest, d.level)
            d.verdict, d.rule = d.signed_rank[0], "exact signed-rank (a seed failed)"
        if d.disagreement and d.disagreement[0] < 0.05:
            d.verdict, d.rule = UNDECIDED, "withheld: the frameworks disagree (read each framework's own difference)"
        d.power = power_to_support(d.estimate, d.kind, smallest, d.level)
        d.diff_80 = difference_for_power(d.estimate, d.kind, smallest, d.level)
        d.seeds_80 = seeds_for_power(d.estimate, d.kind, smallest, d.level)
    return out


def combine(verdicts: list[str], mode: str, undecided: str = UNDECIDED) -> str:
    """A claim from its comparisons' verdicts. ``all``: supported when every one is, contradicted
    when one is; ``any``: supported when one is, contradicted when every one is. ``undecided`` is
    the word the caller's report uses for the rest."""
    if not verdicts:
        return undecided
    if mode == "all":
        return CONTRADICTED if CONTRADICTED in verdicts else SUPPORTED if all(v == SUPPORTED for v in verdicts) \
            else undecided
    return SUPPORTED if SUPPORTED in verdicts else CONTRADICTED if all(v == CONTRADICTED for v in verdicts) \
        else undecided


def band_width(rates: np.ndarray, scores: np.ndarray, within: float) -> tuple[float, float, float, bool, bool]:
    """The band of log10 rates whose linearly interpolated score is within ``within`` of the best
    point's: (low rate, high rate, width in decades, censored low, censored high). Interpolated
    between neighbouring grid points (a grid's resolution otherwise sets the width)."""
    order = np.argsort(rates)
    x, y = np.log10(np.asarray(rates, float)[order]), np.asarray(scores, float)[order]
    best = int(np.nanargmax(y))
    floor = y[best] - within

    def edge(step: int) -> tuple[float, bool]:
        i = best
        while 0 <= i + step < len(x) and y[i + step] >= floor:
            i += step
        if not 0 <= i + step < len(x):
            return x[i], True
        j = i + step  # y[j] < floor <= y[i]: interpolate where the line crosses the floor
        return x[i] + (x[j] - x[i]) * (y[i] - floor) / (y[i] - y[j]), False

    lo, cens_lo = edge(-1)
    hi, cens_hi = edge(+1)
    return 10 ** lo, 10 ** hi, hi - lo, cens_lo, cens_hi
