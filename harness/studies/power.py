"""The confirmatory phase's size, from the exploratory phase's spread: for each decision comparison of
claims 1, 2a and 2b, the probability that its interval reaches a verdict (clears the smallest effect in
either reading) at the exploratory mean and standard deviation of the paired differences, for a number of
seeds. ``python -m harness.studies.power [results/guideline_study]`` prints the table that
studies/guideline.yaml quotes.

Monte Carlo over the sample mean (normal) and the sample standard deviation (scaled chi-square) of n
paired differences, the interval at the Bonferroni level over the family (conservative for Holm).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import stats

FAMILY = [("constant", "onecycle", "not_worse"), ("step", "onecycle", "not_worse")] + [
    (a, b, "better") for a in ("step", "cosine") for b in ("constant", "onecycle", "warmup_linear", "wsd")]


def verdict_power(mean: float, sd: float, n: int, alpha: float, kind: str, smallest: float = 0.3,
                  sims: int = 20000, seed: int = 0) -> float:
    """P(the interval at level 1 - alpha reaches a verdict) for n pairs whose true difference is ``mean``."""
    rng = np.random.default_rng(seed)
    means = rng.normal(mean, sd / np.sqrt(n), sims)
    sds = sd * np.sqrt(rng.chisquare(n - 1, sims) / (n - 1))
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sds / np.sqrt(n)
    lo, hi = means - half, means + half
    if kind == "better":
        decided = (lo > smallest) | (hi < 0) | ((lo > -smallest) & (hi < smallest))
    else:
        decided = (lo > -smallest) | (hi < -smallest)
    return float(decided.mean())


def main(argv: list[str] | None = None) -> int:
    from harness.studies.grid import read_runs, with_arms

    folder = (argv or sys.argv[1:] or ["results/guideline_study"])[0]
    runs = with_arms(read_runs(f"{folder}/final"))
    last = runs[(runs["framework"] == "torch") & (runs["epochs"] == 30)]
    last = last[last["epoch"] == last.groupby("run_id")["epoch"].transform("max")]
    acc = {arm: g.set_index("seed")["test_acc"] * 100 for arm, g in last.groupby("arm")}
    print("comparison                  kind       mean   sd    " + "  ".join(f"n={n}" for n in (10, 30, 45, 60)))
    for a, b, kind in FAMILY:
        seeds = acc[a].index.intersection(acc[b].index)
        diffs = (acc[a][seeds] - acc[b][seeds]).to_numpy()
        mean, sd = float(diffs.mean()), float(diffs.std(ddof=1))
        powers = "  ".join(f"{verdict_power(mean, sd, n, 0.05 / len(FAMILY), kind):.2f}" for n in (10, 30, 45, 60))
        print(f"{a + ' - ' + b:27s} {kind:9s} {mean:+.2f}  {sd:.2f}  {powers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
