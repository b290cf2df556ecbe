"""Does an answer transfer? For a study whose final phases ask the same comparisons on several problems
(studies/transfer.yaml): each problem's ranking of the arms with intervals, the guideline study's LeNet
answer beside them (its PyTorch 30-epoch final runs, decided under the same rules), the rank agreement
between every pair of problems with its exact p-value and power, and per comparison whether the LeNet
verdict held, flipped or could not be told.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.report.blocks import Block, Heading, Paragraph
from harness.report.stats import rank_agreement
from harness.studies import decide
from harness.studies.tables import text_table as _table

REFERENCE = "LeNet, Fashion-MNIST"
POWER_SIMS = 2000


def reference_values(arms: list[str]) -> tuple[dict, dict]:
    """The guideline study's PyTorch 30-epoch final runs of these arms (points), and which failed."""
    from harness.paths import PROJECT_ROOT
    from harness.studies.exploratory import exploratory_values

    return exploratory_values(PROJECT_ROOT / "results/guideline_study", arms)


def _means(values: dict, failed: dict, arms: list[str]) -> dict[str, tuple[float, float, int]]:
    """arm -> (mean over the seeds that learned, its standard error, seeds)."""
    out = {}
    for arm in arms:
        live = np.array([v for k, v in values.get(arm, {}).items() if k not in failed.get(arm, set())])
        if len(live):
            se = float(live.std(ddof=1) / math.sqrt(len(live))) if len(live) > 1 else math.nan
            out[arm] = (float(live.mean()), se, len(live))
    return out


def agreement_power(a: dict, b: dict, arms: list[str], seed: int = 0) -> float:
    """P(the exact rank-agreement test gives p < 0.05) if the answer did transfer: both problems' true
    arm means in ``a``'s observed order and spacing, each problem's means varying by its own standard
    errors. The power of this design to see an agreement that is there."""
    rng = np.random.default_rng(seed)
    ma, sa = np.array([a[x][0] for x in arms]), np.nan_to_num(np.array([a[x][1] for x in arms]))
    # b's true means: a's spacing scaled to b's own spread of arm means, so its noise is judged at its scale
    spread_a, spread_b = np.ptp(ma), np.ptp([b[x][0] for x in arms])
    mb = (ma - ma.mean()) * (spread_b / spread_a if spread_a else 1.0)
    sb = np.nan_to_num(np.array([b[x][1] for x in arms]))
    hits = 0
    for _ in range(POWER_SIMS):
        _, p, _ = rank_agreement(rng.normal(ma, sa), rng.normal(mb, sb))
        hits += bool(p < 0.05)
    return hits / POWER_SIMS


def transfer_blocks(study, results: dict) -> list[Block]:
    """``results``: final phase name -> (phase, PhaseValues, decisions)."""
    if len(results) < 2:
        return []
    first = next(iter(results.values()))[0]
    arms = [a.label for a in first.arms]
    ref_values, ref_failed = reference_values(arms)
    problems = {REFERENCE: (_means(ref_values, ref_failed, arms),
                            decide.decide(first.comparisons, ref_values, study.smallest_effect, ref_failed))}
    for name, (phase, pv, decisions) in results.items():
        problems[name.replace("_final", "")] = (_means(pv.values, pv.failed, arms), decisions)
    complete = {name: m for name, (m, _) in problems.items() if all(a in m for a in arms)}
    rows = []
    for arm in arms:
        row = [arm]
        for name, (means, _) in problems.items():
            if arm not in means:
                row.append("—")
                continue
            mean, se, n = means[arm]
            rank = 1 + sum(means[o][0] > mean for o in means if o != arm)
            half = 1.96 * se if math.isfinite(se) else math.nan
            row.append(f"#{rank} {mean:.2f} % ±{half:.2f} (n={n})")
        rows.append(row)
    blocks: list[Block] = [
        Heading(2, "Does the answer transfer?"),
        Paragraph(f"Each problem's final test accuracy per arm (mean over the seeds that learned, ±1.96 standard "
                  f"errors, its rank among the arms); '{REFERENCE}' is the guideline study's PyTorch 30-epoch final "
                  "runs of the same arms at their own tuned rates (batch 256, 10 seeds).", "notes", markup=False),
        _table(["arm", *problems], rows)]
    pairs = []
    names = list(complete)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho, p, n = rank_agreement([complete[a][x][0] for x in arms], [complete[b][x][0] for x in arms])
            power = agreement_power(complete[a], complete[b], arms)
            reading = ("no evidence of agreement" if not p < 0.05 else "agree (p < 0.05)" if rho > 0 else
                       "reversed: the order is significantly the opposite (p < 0.05)")
            pairs.append([f"{a} ~ {b}", _pt(rho), f"{p:.3f}", f"{power:.2f}", reading])
    if pairs:
        blocks += [Paragraph(f"Rank agreement (Spearman's ρ over the {len(arms)} arms, exact permutation p over all "
                             f"{math.factorial(len(arms))} orderings: with {len(arms)} arms only a near-perfect "
                             "agreement can reach p < 0.05). Power: the chance of p < 0.05 if the answer did transfer "
                             "(the second problem's true means in the first's order and spacing, scaled to its own "
                             "range of arm means), each problem's means varying by their standard errors.", "notes",
                             markup=False),
                   _table(["problems", "ρ", "exact p", "power", "reading"], pairs)]
    verdict_rows = []
    lenet = problems[REFERENCE][1]
    for i, ref in enumerate(lenet):
        row = [ref.claim, f"{ref.a} − {ref.b}", ref.kind, f"{ref.verdict} ({_pt(ref.estimate.mean)})"]
        for name, (_, decisions) in list(problems.items())[1:]:
            d = decisions[i]
            row.append(f"{d.verdict} ({_pt(d.estimate.mean)}): " + _transfer_word(ref.verdict, d.verdict))
        verdict_rows.append(row)
    blocks += [Paragraph(f"Each comparison decided on each problem as one Holm family of {len(lenet)} (the study's "
                         f"rules, smallest effect {study.smallest_effect:g} point{'' if study.smallest_effect == 1 else 's'}, the LeNet reference included, "
                         "so its verdicts here are not the guideline report's, whose family and smallest effect "
                         "differ). Held: the same decided verdict; flipped: the opposite one; not told: either side "
                         "undecided.", "notes", markup=False),
               _table(["claim", "comparison", "kind", REFERENCE, *list(problems)[1:]], verdict_rows)]
    return blocks


def _pt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.2f}".replace("-", "−")


def _transfer_word(reference: str, here: str) -> str:
    if decide.UNDECIDED in (reference, here):
        return "not told"
    return "held" if reference == here else "flipped"


def study_has_problems(study) -> bool:
    return sum(p.kind == "final" for p in study.phases.values()) >= 2 and Path(study.path).stem == "transfer"
