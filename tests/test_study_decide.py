"""A study's decisions (harness/studies/decide.py): Holm's stopping level, the failed-seed rule, the
framework term, the power to reach a verdict, and the band width interpolated per seed (issue 32)."""

from __future__ import annotations

import math
from types import SimpleNamespace as C

import numpy as np
import pytest

from harness.studies import decide

SMALL = 0.3  # points


def test_holm_stops_and_later_intervals_stay_at_the_stopping_level():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.5, 10)
    values = {"x": {("torch", s): 90 + base[s] for s in range(10)},
              "big": {("torch", s): 90 + base[s] - 2.0 + 0.1 * rng.normal() for s in range(10)},
              "tiny": {("torch", s): 90 + base[s] - 0.05 + 0.4 * rng.normal() for s in range(10)},
              "tiny2": {("torch", s): 90 + base[s] + 0.02 + 0.4 * rng.normal() for s in range(10)}}
    comps = [C(claim="1", a="x", b=b, kind="better") for b in ("big", "tiny", "tiny2")]
    out = {d.b: d for d in decide.decide(comps, values, SMALL)}
    assert out["big"].level == pytest.approx(1 - 0.05 / 3) and not out["big"].held_at_stop
    assert out["big"].verdict == decide.SUPPORTED
    stopped = sorted((out["tiny"], out["tiny2"]), key=lambda d: d.estimate.p_zero)
    assert stopped[0].held_at_stop and stopped[1].held_at_stop
    assert stopped[0].level == stopped[1].level == pytest.approx(1 - 0.05 / 2)  # never the looser 0.95


def test_a_dead_seed_does_not_hide_a_comparison_won_on_every_seed():
    """The audit's case: step beats sqrt on all 10 seeds, one sqrt seed never learned (10 % at chance)."""
    step = [88.93, 90.54, 90.08, 90.46, 89.89, 90.46, 89.43, 89.85, 90.68, 90.33]
    sqrt = [88.0, 89.6, 89.3, 89.5, 89.1, 89.7, 88.6, 10.0, 89.8, 89.5]
    values = {"step": {("torch", s): v for s, v in enumerate(step)},
              "sqrt": {("torch", s): v for s, v in enumerate(sqrt)}}
    comps = [C(claim="2a", a="step", b="sqrt", kind="better")]
    (d,) = decide.decide(comps, values, SMALL, failed={"sqrt": {("torch", 7)}})
    assert d.hi - d.lo > 30  # the t interval is tens of points wide
    assert d.rule.startswith("exact signed-rank") and d.verdict == decide.SUPPORTED
    assert d.signed_rank[1] == pytest.approx(1 / 1024)  # every difference above 0.3: the exact minimum
    (t_only,) = decide.decide(comps, values, SMALL)
    assert t_only.verdict == decide.UNDECIDED


def test_non_inferiority_bounds():
    assert decide.verdict_of("not_worse", -0.25, 0.4, SMALL) == decide.SUPPORTED
    assert decide.verdict_of("not_worse", -0.9, -0.35, SMALL) == decide.CONTRADICTED
    assert decide.verdict_of("not_worse", -0.5, 0.1, SMALL) == decide.UNDECIDED
    assert decide.verdict_of("better", 0.1, 0.25, SMALL) == decide.CONTRADICTED  # inside +-0.3: does not matter


def test_framework_term_removes_each_frameworks_offset_from_the_noise():
    torch, tf, mxnet = (np.array([1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0]), np.array([0.0, 0.2, -0.2]),
                        np.array([0.1, -0.1, 0.0]))
    est = decide.estimate({"torch": torch, "tf": tf, "mxnet": mxnet})
    assert est.mean == pytest.approx((10 * 1.0 + 0 + 0) / 16)  # each pair once: 10 : 3 : 3, as the report says
    resid = np.concatenate([torch - 1.0, tf, mxnet])
    assert est.df == 13 and est.se == pytest.approx(math.sqrt((resid ** 2).sum() / 13) / 4)
    pooled = np.concatenate([torch, tf, mxnet])
    assert est.se < pooled.std(ddof=1) / 4  # the offsets between frameworks are not noise
    assert set(est.per_framework) == {"torch", "tf", "mxnet"} and est.per_framework["tf"][0] == 3
    p, power = decide.framework_disagreement({"torch": np.array([1.0, 1.2, 0.8]), "tf": np.array([1.1, 0.9, 1.0])},
                                             shift=0.5)
    assert p > 0.5 and 0 < power < 1


def test_power_to_reach_the_verdict_and_the_seeds_for_80_percent():
    est = decide.estimate({"torch": np.array([0.9, 0.3, 1.1, 0.4, 0.6, 0.2, 0.8, 0.5, 0.7, 0.5])})
    assert est.mean == pytest.approx(0.6)
    power = decide.power_to_support(est, "better", SMALL, 0.95)
    assert 0.5 < power < 0.95
    n80 = decide.seeds_for_power(est, "better", SMALL, 0.95)
    assert decide.power_to_support(est, "better", SMALL, 0.95, n=n80) >= 0.8 > \
        decide.power_to_support(est, "better", SMALL, 0.95, n=n80 - 1)
    d80 = decide.difference_for_power(est, "better", SMALL, 0.95)
    assert decide.power_to_support(est, "better", SMALL, 0.95, true_diff=d80) == pytest.approx(0.8, abs=1e-6)
    below = decide.estimate({"torch": np.array([0.1, 0.2, 0.3, 0.2])})
    assert decide.seeds_for_power(below, "better", SMALL, 0.95) is None  # 0.2 never clears 0.3


def test_band_width_is_interpolated_between_grid_points():
    rates = np.array([0.001, 0.01, 0.1, 1.0])
    scores = np.array([80.0, 90.0, 89.5, 70.0])
    lo, hi, width, cens_lo, cens_hi = decide.band_width(rates, scores, 1.0)
    assert lo == pytest.approx(10 ** (-2 - 0.1))  # 90 -> 80 crosses 89 a tenth of a decade below 0.01
    assert hi == pytest.approx(10 ** (-1 + 0.5 / 19.5))
    assert width == pytest.approx(math.log10(hi / lo)) and not cens_lo and not cens_hi
    assert decide.band_width(rates, np.array([90.0, 89.5, 80, 70]), 1.0)[3]  # the band reaches the grid's end


def test_transfer_section_reads_held_flipped_and_not_told():
    """Two problems with made-up final values: one ranks the arms as LeNet does, one reverses them."""
    from harness.report.blocks import to_markdown
    from harness.studies.outcomes import PhaseValues
    from harness.studies.study_file import load
    from harness.studies.transfer_section import _transfer_word, transfer_blocks
    from harness.paths import STUDIES_DIR

    study = load(STUDIES_DIR / "transfer.yaml")
    arms = ["constant", "step", "cosine", "warmup", "onecycle"]
    order = {"constant": 90.0, "step": 91.0, "cosine": 92.0, "warmup": 92.2, "onecycle": 93.0}
    rng = np.random.default_rng(0)
    results = {}
    for name, sign in (("same_final", 1), ("reversed_final", -1)):
        phase = study.phases["mnist1d_final"]
        values = {a: {("torch", s): (order[a] if sign > 0 else 183 - order[a]) + 0.1 * rng.normal() for s in range(10)}
                  for a in arms}
        pv = PhaseValues(values, {a: set() for a in arms}, {a: 10 for a in arms}, {a: 10 for a in arms}, {})
        results[name] = (phase, pv, decide.decide(phase.comparisons, values, study.smallest_effect))
    md = to_markdown(transfer_blocks(study, results))
    assert "| LeNet, Fashion-MNIST ~ same | " in md and "| same ~ reversed | −1.00 | 0.017 |" in md
    assert "| same ~ reversed | −1.00 | 0.017 | 1.00 | reversed: the order is significantly the opposite" in md
    assert "| 2a | step − constant | better | contradicted (+0.39) | undecided (+0.95): not told | contradicted " in md
    assert md.count(": held |") == 1  # the only comparison both LeNet and a problem decide
    assert "| 2b | cosine − constant | better | undecided (+0.57) | supported (+1.99): not told | contradicted" in md
    assert [_transfer_word("supported", "supported"), _transfer_word("supported", "contradicted"),
            _transfer_word("undecided", "supported")] == ["held", "flipped", "not told"]
