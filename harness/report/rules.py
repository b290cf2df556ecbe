"""The two rules every number of a report obeys, stated once (the generic report and the studies'
reports import them; the method text quotes ``FAILED_SEEDS_RULE``):

- **failed seeds**: a seed whose run failed by its verdict (harness.verdicts.FAILED_VERDICTS:
  diverged, never learned, collapsed; or a run that raised) is kept out of every mean, interval,
  rank and paired difference, and the cell says how many of its seeds learned beside its mean
  (``86.40% (1 of 3 seeds learned; 2 failed)``). A cell none of whose seeds learned has no mean.
- **chance**: a mean is labelled "(chance)" only when a binomial test on the test-set size cannot
  tell it from 1 / classes; 15-20 % on 2,000 images is far from chance (p < 1e-10), not "chance".
"""

from __future__ import annotations

from harness.verdicts import FAILED_VERDICTS

NUM_CLASSES = 10  # Fashion-MNIST
CHANCE_ALPHA = 0.05  # "(chance)" when the binomial test's two-sided p is at least this

FAILED_SEEDS_RULE = (
    "A seed that failed (its verdict is diverged, never learned or collapsed, or the run raised) is kept out of "
    "every mean, interval, rank and paired difference; the cell shows how many of its seeds learned beside its "
    "mean (\"86.40% (1 of 3 seeds learned; 2 failed)\"), and a cell none of whose seeds learned has no mean.")
CHANCE_RULE = (
    "\"(chance)\" marks a mean a two-sided binomial test on the test-set size cannot tell from 1 / classes "
    f"(p ≥ {CHANCE_ALPHA:g}; 10% for Fashion-MNIST's ten classes).")


def counts_in_mean(verdict: str | None, status: str = "complete") -> bool:
    """Whether a run's final accuracy enters a cell's mean: complete, and not failed by its verdict."""
    return status == "complete" and verdict not in FAILED_VERDICTS


def failed(verdict: str | None, status: str = "complete") -> bool:
    """A run that produced no usable network: failed by its verdict, or it raised."""
    return status == "failed" or verdict in FAILED_VERDICTS


def chance_p(accuracy: float, n_test: int, classes: int = NUM_CLASSES) -> float:
    """Two-sided binomial p-value of ``accuracy`` on ``n_test`` images against 1 / ``classes``."""
    from scipy.stats import binomtest

    n = max(1, int(n_test))
    k = min(n, max(0, int(round(accuracy * n))))
    return float(binomtest(k, n, 1.0 / classes).pvalue)


def at_chance(accuracy: float | None, n_test: int, classes: int = NUM_CLASSES, alpha: float = CHANCE_ALPHA) -> bool:
    """True when ``accuracy`` on ``n_test`` test images is statistically indistinguishable from
    guessing (a two-sided binomial test, p >= ``alpha``); False for None (no mean, nothing to label)."""
    if accuracy is None or accuracy != accuracy:
        return False
    return chance_p(accuracy, n_test, classes) >= alpha


def seeds_learned_text(n_learned: int, n_finished: int) -> str:
    """``1 of 3 seeds learned; 2 failed`` (the words every table and sentence uses)."""
    failed_n = n_finished - n_learned
    word = "seed" if n_finished == 1 else "seeds"
    return f"{n_learned} of {n_finished} {word} learned" + (f"; {failed_n} failed" if failed_n else "")
