"""harness.report.stats against scipy and hand-computed numbers, and the report built on
synthetic folders holding every kind of run a study can leave (issues 21 and 22)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from harness.report import findings, load, render, run_table, summary
from harness.report.estimates import accuracy_ci, prediction_half_width
from harness.report.stats import (
    SMALLEST_EFFECT, blocked_comparison, holm, holm_comparisons, paired_comparison, rank_agreement, seeds_needed,
    success_rate,
)
from harness.results import FAILED_FILE, write_config, write_epochs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic_results  # noqa: E402


# ------------------------------------------------------------------------------- the API


def test_paired_comparison_matches_scipy_and_reads_inconclusive():
    a, b = [0.9014, 0.9020, 0.9008], [0.8998, 0.8990, 0.8999]
    c = paired_comparison(a, b)
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval()
    assert (c.n, c.mean_diff) == (3, pytest.approx(0.0055 / 3))
    assert (c.ci_low, c.ci_high, c.p_t) == (pytest.approx(ci.low), pytest.approx(ci.high), pytest.approx(ref.pvalue))
    # every difference is positive: 1 of the 8 sign patterns as extreme, and its mirror: p = 2/8
    assert c.p_perm == pytest.approx(0.25)
    # the interval (−0.08 to +0.45 pp) neither clears +0.3 pp nor lies inside ±0.3 pp
    assert c.label == "inconclusive"
    text = c.sentence("warmup", "cosine")
    assert text.startswith("warmup vs cosine: +0.18 pp, inconclusive at 3 seeds: the interval is −0.08 pp to +0.45 pp")
    assert f"80 % power only at a true difference ≥ {100 * (0.003 + c.detectable):.2f} pp" in text
    # detectable: the paired t-test on these 3 seeds has 80% power there (noncentral t)
    sd = float(np.std(np.subtract(a, b), ddof=1))
    nc = c.detectable * math.sqrt(3) / sd
    crit = sps.t.ppf(0.975, 2)
    assert sps.nct.sf(crit, 2, nc) + sps.nct.cdf(-crit, 2, nc) == pytest.approx(0.8, abs=1e-6)


def test_better_worse_equivalent_and_identical():
    better = paired_comparison([0.95, 0.96, 0.97, 0.95], [0.90, 0.91, 0.92, 0.905])
    assert better.label == "better" and better.ci_low > SMALLEST_EFFECT
    assert better.sentence("a", "b").startswith(f"a is better than b by at least {100 * better.ci_low:.2f} pp")
    worse = paired_comparison([0.90, 0.91, 0.92, 0.905], [0.95, 0.96, 0.97, 0.95])
    assert worse.label == "worse" and "worse than" in worse.sentence("a", "b")
    same = [0.9000, 0.9010, 0.9020, 0.9030, 0.9040, 0.9050]
    eq = paired_comparison(same, [x + d for x, d in zip(same, (0.0005, -0.0005, 0.0004, -0.0004, 0.0003, -0.0003))])
    assert eq.label == "equivalent" and -SMALLEST_EFFECT < eq.ci_low < eq.ci_high < SMALLEST_EFFECT
    assert eq.p_tost < 0.05 and "equivalent within ±0.3 pp" in eq.sentence("a", "b")
    ident = paired_comparison([0.85, 0.86], [0.85, 0.86])
    assert ident.label == "identical" and ident.sentence("a", "b") == "a and b: identical on all 2 seeds"
    shifted = paired_comparison([0.86, 0.87], [0.85, 0.86])  # the same +1 pp on both seeds: no spread
    assert shifted.label == "identical" and "on all 2 seeds" in shifted.sentence("a", "b")
    one = paired_comparison([0.9], [0.8])
    assert one.label == "inconclusive" and "one seed: no interval" in one.sentence("a", "b")
    with pytest.raises(ValueError, match="no finite pair"):
        paired_comparison([math.nan], [0.5])


def test_holm_and_its_corrected_intervals():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan]) == pytest.approx([1.0, 1.0])
    pairs = [([0.9014, 0.9020, 0.9008], [0.8998, 0.8990, 0.8999]),
             ([0.95, 0.96, 0.97, 0.95], [0.90, 0.91, 0.92, 0.905])]
    out = holm_comparisons(pairs)
    # the second has the smaller p: step 1 of 2 at 1 − 0.05/2, the first at 1 − 0.05/1
    assert [c.confidence for c in out] == pytest.approx([0.95, 0.975])
    ci = sps.ttest_rel(*pairs[1]).confidence_interval(confidence_level=0.975)
    assert (out[1].ci_low, out[1].ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert out[1].p_holm == pytest.approx(2 * sps.ttest_rel(*pairs[1]).pvalue)
    assert [c.label for c in out] == ["inconclusive", "better"]


def test_holm_intervals_after_it_stops_stay_at_the_stopping_level():
    """The audit's case: after the first comparison Holm does not reject, later ones were printed at
    later, looser levels; now they keep the level where the procedure stopped."""
    rng = np.random.default_rng(1)
    clear = (list(0.95 + 0.001 * rng.normal(size=6)), list(0.90 + 0.001 * rng.normal(size=6)))
    noisy = [(list(0.90 + 0.01 * rng.normal(size=6)), list(0.90 + 0.01 * rng.normal(size=6))) for _ in range(3)]
    out = holm_comparisons([clear, *noisy])
    assert out[0].confidence == pytest.approx(1 - 0.05 / 4)  # rejected at step 1
    stop = min(c.p_t for c in out[1:])
    assert stop > 0.05 / 3  # step 2 does not reject: Holm stops there
    assert [c.confidence for c in out[1:]] == pytest.approx([1 - 0.05 / 3] * 3)  # never 1 - 0.05/2 or 0.95


def test_success_rate_rank_agreement_and_seeds_needed():
    rate, lo, hi = success_rate(1, 3)
    ref = sps.binomtest(1, 3).proportion_ci(method="exact")
    assert (rate, lo, hi) == (pytest.approx(1 / 3), pytest.approx(ref.low), pytest.approx(ref.high))
    assert success_rate(3, 3)[1:] == (pytest.approx(0.025 ** (1 / 3)), 1.0)
    # six series in the same order: 2 of the 720 orderings are as extreme (rho = ±1)
    assert rank_agreement(range(6), range(6)) == (pytest.approx(1.0), pytest.approx(2 / 720), 6)
    rho, p, n = rank_agreement([1, 2, 3], [1, 2, 3])
    assert (rho, n) == (pytest.approx(1.0), 3) and p == pytest.approx(2 / 6)
    assert math.isnan(rank_agreement([1, 2], [1, 2])[0])
    big = rank_agreement(range(10), range(10))
    assert big[0] == pytest.approx(1.0) and big[1] < 0.001 and big[1] == rank_agreement(range(10), range(10))[1]
    n = seeds_needed(0.005, 0.003, comparisons=5)
    crit = lambda k: sps.t.ppf(1 - 0.01 / 2, k - 1)  # noqa: E731
    power = lambda k: sps.nct.sf(crit(k), k - 1, 0.003 * math.sqrt(k) / 0.005)  # noqa: E731
    assert power(n) >= 0.8 > power(n - 1)
    assert seeds_needed(0.0, 0.003) == 2


def test_blocked_comparison_removes_framework_offsets():
    # the same +1 pp gain in three frameworks whose differences are offset by framework
    blocks = [([0.91, 0.92, 0.915], [0.90, 0.905, 0.91]), ([0.90, 0.91, 0.905], [0.88, 0.895, 0.89]),
              ([0.92, 0.93, 0.925], [0.91, 0.915, 0.918])]
    comp, between = blocked_comparison(blocks)
    d = [np.subtract(a, b) for a, b in blocks]
    resid = np.concatenate([x - x.mean() for x in d])
    se = math.sqrt((resid ** 2).sum() / 6) / 3
    assert comp.n == 9 and comp.mean_diff == pytest.approx(np.concatenate(d).mean())
    assert comp.ci_high - comp.mean_diff == pytest.approx(sps.t.ppf(0.975, 6) * se)
    assert between == pytest.approx(sps.f_oneway(*d).pvalue)


def test_prediction_band_and_an_all_equal_accuracy_interval():
    # t at the pooled SD's degrees of freedom (8), our mean of n=1 against one published run
    assert prediction_half_width(0.01, 1, 8) == pytest.approx(sps.t.ppf(0.975, 8) * 0.01 * math.sqrt(2))
    assert prediction_half_width(0.01, 3) == pytest.approx(sps.t.ppf(0.975, 2) * 0.01 * math.sqrt(4 / 3))
    e = accuracy_ci([0.1, 0.1, 0.1])  # the logit round trip must not put the lower end above the mean
    assert e.low <= e.mean <= e.high


# ----------------------------------------------------------- reports on awkward folders


def _report(tmp_path: Path) -> str:
    render.build_report(tmp_path, tmp_path / "out")
    return (tmp_path / "out" / "report.md").read_text()


def test_a_cell_whose_seeds_are_all_equal_builds(tmp_path):
    # every seed exactly at 87.3%: the logit round trip used to put the lower end above the mean
    # (0.8730000000000001 > 0.8729999999999999) and matplotlib refused the negative xerr
    for seed in range(3):
        synthetic_results.write_run(tmp_path, "clean", "torch", "constant", seed, [0.80, 0.873], "complete")
        synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", seed, [0.80, 0.873], "complete")
    md = _report(tmp_path)
    assert "identical on all 3 seeds" in md and "beyond the noise" not in md
    assert (tmp_path / "out" / "final_clean.png").stat().st_size > 5_000
    e = accuracy_ci([0.873] * 3)
    assert e.low <= e.mean <= e.high


def test_one_low_seed_among_learning_seeds_is_not_never_learned(tmp_path):
    # a 30% seed learned (above chance + 5 points): it is no failure, and nothing says "never learned"
    for seed, final in enumerate([0.90, 0.91, 0.30]):
        synthetic_results.write_run(tmp_path, "clean", "torch", "constant", seed, [0.2, 0.25, final], "complete")
    md = _report(tmp_path)
    assert "never learned" not in md.split("## Verdicts")[0] and "runs failed" not in md


def test_a_winner_with_diverged_seeds_says_so_in_the_headline(tmp_path):
    for seed in range(3):
        synthetic_results.write_run(tmp_path, "clean", "torch", "constant", seed, [0.85, 0.86, 0.87 + seed / 1000],
                                    "complete")
    synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", 0, [0.88, 0.89, 0.90], "complete")
    for seed in (1, 2):
        synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", seed, [0.5, 0.1], "diverged")
    md = _report(tmp_path)
    head = md.splitlines()[2]
    assert "2 of 3 runs failed (diverged: seeds 1, 2)" in head


def test_the_winner_is_compared_with_a_runner_up_of_its_own_budget(tmp_path):
    for seed in range(2):
        synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", seed, [0.80, 0.90 + seed / 100], "complete")
    # a longer run of another schedule (another budget): not the runner-up
    rows = synthetic_results._rows("clean", "torch", "constant", 0, [0.7, 0.8, 0.85], "complete")
    for r in rows:
        r["epochs"] = 3
    write_epochs(tmp_path / "long-constant", rows)
    s = summary.summarise_protocol(*(lambda df: (df, run_table.summarise_runs(df)))(load.load_results(tmp_path)),
                                   "clean", load.load_published(), {})
    text = findings.findings(s)[0]
    assert "**cosine · 5 epochs** has the best mean" in text and " vs constant" not in text
    assert "no other schedule ran with its optimizer, budget and network" in text


def test_every_kind_of_broken_run_is_named(tmp_path):
    """NaN and inf losses, a single epoch, a diverged first epoch, an interrupted run with no
    finished epoch and a run that failed with only _failed.txt: the report builds and names each."""
    ok = synthetic_results._rows("clean", "torch", "constant", 0, [0.5, 0.7, 0.8, 0.85], "complete")
    write_epochs(tmp_path / "ok", ok)
    nan = synthetic_results._rows("clean", "torch", "cosine", 0, [0.5, 0.6, 0.6], "diverged")
    nan[-1]["train_loss"] = float("inf")
    write_epochs(tmp_path / "inf", nan)
    write_epochs(tmp_path / "nan-first", synthetic_results._rows("clean", "torch", "sqrt", 0, [0.1], "diverged"))
    write_epochs(tmp_path / "single", synthetic_results._rows("clean", "torch", "warmup", 0, [0.7], "complete"))
    raised = synthetic_results._rows("clean", "torch", "multifactor", 0, [0.5, 0.6], "failed")
    for r in raised:
        r["error"] = "RuntimeError: out of memory"
    write_epochs(tmp_path / "raised", raised)
    (tmp_path / "no-epoch").mkdir()
    write_config(tmp_path / "no-epoch", "framework: torch\nseed: 4\nscheduler:\n  name: cosine\n")
    (tmp_path / "failed-early").mkdir()
    write_config(tmp_path / "failed-early", "framework: tf\nseed: 5\nscheduler:\n  name: factor\n")
    (tmp_path / "failed-early" / FAILED_FILE).write_text("ValueError: bad shape\n\ntraceback")
    md = _report(tmp_path)
    verdicts = md.split("## Verdicts")[1]
    assert "clean · PyTorch cosine seed 0: **diverged**: the loss was inf in epoch 2" in verdicts
    assert "clean · PyTorch sqrt seed 0: **diverged**: the loss was nan in epoch 0" in verdicts
    assert "clean · PyTorch warmup seed 0: **too short**" in verdicts
    assert "clean · PyTorch multifactor seed 0: **failed**: the run raised: RuntimeError: out of memory" in verdicts
    assert "PyTorch cosine seed 4 (no-epoch): **no epoch finished**" in verdicts
    assert "TensorFlow factor seed 5 (failed-early): **failed** before its first epoch: ValueError: bad shape" in verdicts
    assert "1 failed before their first epoch" in verdicts and "1 started with no epoch finished" in verdicts
    gaps = md.split("## Verdicts")[0]
    assert "PyTorch cosine: 1 of 1 runs failed (diverged: seed 0)" in gaps
    assert "PyTorch multifactor: 1 of 1 runs failed (failed: seed 0)" in gaps
    assert "PyTorch warmup: seed 0 too short for a trend" in gaps
