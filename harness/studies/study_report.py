"""A declared study's report: the question, each grid phase's choice per arm (on validation), each phase's
results per arm, and the declared comparisons decided as one Holm family (harness.studies.decide), each
with its interval at the level the decision used and the power to reach its verdict. ``phase_blocks`` is
also the guideline report's confirmatory section.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.report.blocks import CSS, Block, BulletList, Heading, Paragraph, html_page, to_markdown
from harness.report.files import write_report
from harness.report.load import fw_label
from harness.studies import decide
from harness.studies.outcomes import Choice, PhaseValues, grid_choices, phase_values
from harness.studies.study_file import Phase, Study
from harness.studies.tables import text_table as _table

OUT = "_report"
CSS_EXTRA = "td.txt { white-space: normal; }"


def choice_blocks(phase: Phase, choices: dict[str, Choice]) -> list[Block]:
    rows = []
    for arm in phase.arms:
        c = choices[arm.label]
        if c.rate is None:
            rows.append([arm.label, "—", "—", f"{c.finished} of {c.expected}",
                         "; ".join(c.notes) or "the grid is not finished: no choice yet"])
        else:
            rows.append([arm.label, f"{c.rate:g}", f"{100 * c.val_acc:.2f} % ({c.seeds} seeds, {c.rates} rates)",
                         f"{c.finished} of {c.expected}", "; ".join(c.notes) or "—"])
    return [Heading(2, f"Phase {phase.name}: each arm's rate, chosen on validation"),
            Paragraph("The rate with the best mean final validation accuracy over the seeds ("
                      + ("a failed seed counts at chance" if (phase.choose or {}).get("failed") == "at_chance" else
                         "a rate where a seed diverged is never chosen") + "; ties: the lower "
                      + ("rate" if (phase.choose or {}).get("tie") == "lower_rate" else "validation loss")
                      + "). Each arm is one setting: runs of different arms are never averaged together. No test "
                      "metric chose anything.", "notes", markup=False),
            _table(["arm", "rate", "val acc", "runs finished", "note"], rows)]


def _mean_ci(values: list[float]) -> str:
    from scipy import stats as sps

    v = np.array(values)
    if len(v) < 2:
        return f"{v.mean():.2f} %" if len(v) else "—"
    half = float(sps.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    if v.mean() - half < 0 or v.mean() + half > 100:  # an interval no run could have: show the seeds instead
        edge = "0" if v.mean() - half < 0 else "100"
        return (f"{v.mean():.2f} % (seeds {', '.join(f'{x:.1f}' for x in v)}: a 95 % t interval would pass "
                f"{edge} %, so the seeds are shown instead)")
    return f"{v.mean():.2f} % [{v.mean() - half:.2f}, {v.mean() + half:.2f}]"


def values_blocks(phase: Phase, pv: PhaseValues) -> list[Block]:
    rows = []
    for arm in phase.arms:
        label = arm.label
        values = pv.values.get(label, {})
        failed = pv.failed.get(label, set())
        live = [v for k, v in values.items() if k not in failed]
        frameworks = sorted({k[0] for k in values})
        rows.append([label, f"{pv.finished.get(label, 0)} of {pv.expected.get(label, 0)}",
                     _mean_ci(live), f"{len(live)} of {len(values)} learned" if values else "—",
                     ", ".join(fw_label(f) for f in frameworks) or "—"])
    return [Heading(2, f"Phase {phase.name}: final test accuracy per arm"),
            Paragraph("Mean over the seeds that learned, with its 95 % t interval; a seed that never learned, "
                      "collapsed or diverged is left out of the mean and counted beside it (in the paired "
                      "comparisons below it stays in, at its value, and the exact signed-rank rule decides).",
                      "notes", markup=False),
            _table(["arm", "runs finished", "mean test acc [95 %]", "learned", "frameworks"], rows)]


def _points(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.2f}".replace("-", "−")


def decision_row(d: decide.Decision, smallest: float) -> list[str]:
    est = d.estimate
    if est.n < 2:
        return [d.claim, f"{d.a} − {d.b}", d.kind, str(est.n), "—", "—", "undecided: fewer than 2 pairs", "—", "—"]
    interval = f"[{_points(d.lo)}, {_points(d.hi)}] at {100 * d.level:.3g} %" + (" (Holm stopped)" if d.held_at_stop
                                                                                    else "")
    verdict = d.verdict + (f" by {d.rule}" if d.signed_rank else "")
    if d.signed_rank:
        verdict += f" (p={d.signed_rank[1]:.2g} supported, {d.signed_rank[2]:.2g} contradicted; {d.failed} failed)"
    if len(est.per_framework) > 1:
        interval += "; " + ", ".join(f"{fw_label(f)} {_points(m)} (n={n})" for f, (n, m, _) in est.per_framework.items())
        if d.disagreement:
            p, power = d.disagreement
            interval += (f"; frameworks: {'⚠ disagree' if p < 0.05 else 'no disagreement detected'} (ANOVA p={p:.2g}, "
                         f"power {power:.2f} for a {2 * smallest:.1f}-pt shift of one framework)")
    seeds = "none: the observed difference does not clear the bound" if d.seeds_80 is None else str(d.seeds_80)
    return [d.claim, f"{d.a} − {d.b}", d.kind, str(est.n), _points(est.mean), interval, verdict,
            f"{d.power:.2f}" if math.isfinite(d.power) else "—",
            f"{_points(d.diff_80)} pt; seeds: {seeds}"]


DECISION_HEADERS = ["claim", "comparison", "kind", "n", "mean (pt)", "interval", "verdict",
                    "power (at the observed difference)", "80 % power needs"]


def rules_text(smallest: float, m: int) -> str:
    unit = "point" if smallest == 1 else "points"
    return (f"One Holm family of {m} comparisons, ordered by the p-value of no difference; an interval is at "
            f"the level its Holm step used, and once Holm stops, at the stopping level. Smallest effect that "
            f"matters: {smallest:g} {unit}. better = superiority (supported when the interval clears +{smallest:g}; "
            f"contradicted below 0 or inside ±{smallest:g}); not_worse = non-inferiority, not equivalence "
            f"(supported when the interval clears −{smallest:g}; contradicted when it lies below it). Pooled over "
            "frameworks: the framework is a fixed term (each pair weighs once, so a framework by its seeds; the "
            "spread is within frameworks); a seed that failed hands the verdict to the exact signed-rank test. "
            "Power: the chance that the interval clears the bound for 'supported' if the true difference were the "
            "observed one.")


def decision_blocks(phase: Phase, decisions: list[decide.Decision], smallest: float, complete: bool) -> list[Block]:
    claims = []
    for claim, mode in phase.claims.items():
        mine = [d.verdict for d in decisions if d.claim == str(claim)]
        verdict = decide.combine(mine, mode) if complete else "withheld"
        claims.append(f"claim {claim} ({mode}: {'supported when every comparison is' if mode == 'all' else 'supported when one comparison is'}): **{verdict}**")
    blocks: list[Block] = [Heading(2, f"Phase {phase.name}: the declared comparisons"),
                           Paragraph(rules_text(smallest, len(decisions)), "notes", markup=False)]
    if not complete:
        blocks.append(Paragraph("The phase is not finished: its verdicts are withheld until every declared run is in "
                                "(no optional stopping); the numbers below are the runs so far.", "headline",
                                markup=False))
    if claims:
        blocks.append(BulletList(tuple(claims)))
    blocks.append(_table(DECISION_HEADERS, [decision_row(d, smallest) for d in decisions]))
    return blocks


def phase_blocks(study: Study, phase: Phase, chosen: dict | None = None, results: dict | None = None) -> list[Block]:
    """A phase's results and, where it declares comparisons, its decisions (kept in ``results``)."""
    pv = phase_values(study, phase, chosen)
    blocks = values_blocks(phase, pv)
    if phase.comparisons:
        complete = all(pv.finished.get(a.label, 0) >= pv.expected.get(a.label, 0) > 0 for a in phase.arms)
        tested = [c for c in phase.comparisons if c.kind in decide.KIND_WORDS]
        decisions = decide.decide(tested, pv.values, study.smallest_effect, pv.failed)
        blocks += decision_blocks(phase, decisions, study.smallest_effect, complete)
        if results is not None and complete:
            results[phase.name] = (phase, pv, decisions)
    return blocks


def build(study: Study) -> Path:
    """The study's report in ``results_dir/_report``: index.html and report.md."""
    out = Path(study.results_dir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [Heading(1, f"Study: {study.name}"), Paragraph(study.question, "headline", markup=False),
                           Paragraph(f"Declared in {study.path}; results in {study.results_dir}.", "meta",
                                     markup=False)]
    chosen: dict = {}
    results: dict = {}
    for name, phase in study.phases.items():
        if phase.kind == "grid":
            choices = grid_choices(study, phase)
            chosen[name] = {a: c.rate for a, c in choices.items() if c.rate is not None}
            blocks += choice_blocks(phase, choices)
            continue
        blocks += phase_blocks(study, phase, chosen.get(phase.rates_from), results)
    from harness.studies.transfer_section import study_has_problems, transfer_blocks

    if study_has_problems(study):
        blocks += transfer_blocks(study, results)
    from harness.studies.spent import folders_of, spent_blocks

    blocks += spent_blocks(Path(study.results_dir), folders_of(study))
    page = html_page(f"Study: {study.name}", CSS + CSS_EXTRA, blocks, {})
    return write_report(out, page, to_markdown(blocks), {})
