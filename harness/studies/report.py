"""``python -m harness.studies.report [STUDY_DIR]``: the guideline study's report (issue 22).

Reads STUDY_DIR/tuning and STUDY_DIR/final (parquet only, no framework) and writes
STUDY_DIR/_report/index.html (self-contained: the PNGs embedded) and report.md beside its PNGs.
It works on a study at any stage: every section says what is missing, and a claim whose
comparisons lack runs is "not decidable" with what it would need.

``build`` reads the study, tests the claims (harness.studies.report_claims), computes the other
sections' rows and lines (harness.studies.report_sections), draws the figures, lays the report out
once as blocks (``document``, no analysis in it) and writes them as HTML and as Markdown
(harness.report.blocks).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.report.blocks import (
    CSS, Block, BulletList, Column, Figure, Heading, Paragraph, Table, TableCell, TableRow, html_page, to_markdown,
)
from harness.report.files import staging, write_report
from harness.report.findings import pp
from harness.report.load import FRAMEWORK_ORDER, fw_label
from harness.report.style import Style
from harness.studies import grid
from harness.studies.arms import ALL, ARMS, SHORT_BUDGETS, STUDY_DIR
from harness.studies.study_report import rules_text
from harness.studies.report_claims import CONTRADICTED, SUPPORTED, Claim, claims, framework_sentence
from harness.studies.report_sections import (
    RANK_COLS, chosen_rows, final_curves, headline, limits, rank_agreement_lines, ranking, seeds_lines,
)

OUT = "_report"
CSS_EXTRA = """
table.claims td { white-space: normal; vertical-align: top; }
td.verdict { font-weight: 600; white-space: nowrap; }
td.v-supported { color: #00734d; } td.v-contradicted { color: #BE0032; } td.v-undecided { color: #8a6d00; }
"""
TITLE = "The guides' learning-rate schedule advice, tested: LeNet on Fashion-MNIST"
CLAIM_COLS = [("n", "#", False), ("claim", "claim and question", False), ("verdict", "verdict", False),
              ("evidence", "evidence", False), ("family", "family of comparisons", False)]
CHOSEN_COLS = [("arm", "schedule", False), ("rate", "chosen rate", True), ("val", "val acc (mean of 2 seeds)", True),
               ("band", "within 1 point of the best", False), ("fails", "failed seeds in the grid", True)]
CURVES_PNG, GRID_PNG = "curves.png", "grid.png"


@dataclass(frozen=True)
class StudyContent:
    """Everything the report says, computed from the study; ``document`` only lays it out."""

    headline: str
    meta: str
    claims: list[Claim]
    frameworks: str  # whether the frameworks agree (framework_sentence)
    rankings: list[tuple[str, list[dict]]]  # per framework with final runs: its heading and rows
    agreement: str
    has_curves: bool
    has_grid: bool
    chosen: list[dict]
    seeds: list[str]
    limits: list[str]
    styles: dict[str, Style]


def study_table(cols: list[tuple[str, str, bool]], rows: list[dict], styles: dict[str, Style],
                css_class: str = "results", cell_class=None) -> Table:
    """Rows of text (inline Markdown, \\n a line break) as a table block; an arm's swatch beside its name."""
    body = []
    for r in rows:
        body.append(TableRow(tuple(
            TableCell(str(r[k]), f'{"num" if n else "txt"} {cell_class(k, r) if cell_class else ""}',
                      styles.get(r[k]) if k == "arm" else None)
            for k, _, n in cols)))
    return Table(tuple(Column(h, n) for _, h, n in cols), tuple(body), css_class, markup=True)


def _verdict_class(key: str, row: dict) -> str:
    if key != "verdict":
        return ""
    return "verdict " + {SUPPORTED: "v-supported", CONTRADICTED: "v-contradicted"}.get(row["verdict"], "v-undecided")


def document(c: StudyContent) -> list[Block]:
    """The report, once, as blocks: to_markdown and to_html write it."""
    from harness.report.stats import SMALLEST_EFFECT

    rows = [{"n": x.number, "claim": f"**{x.claim}**\n{x.question}", "family": x.family,
             "evidence": "\n".join(x.evidence), "verdict": x.verdict} for x in c.claims]
    blocks: list[Block] = [
        Heading(1, TITLE), Paragraph(c.headline, "headline"), Paragraph(c.meta, "meta"),
        Heading(2, "The guides' advice, tested"),
        Paragraph(f"Each claim is tested on the final runs' last-epoch test accuracy, every schedule at the rate its "
                  f"own grid chose on validation, as differences paired by framework and seed. A claim is supported "
                  f"only if its interval clears the smallest effect ({pp(SMALLEST_EFFECT, 1)}) in the claimed "
                  f"direction, contradicted if it shows the opposite (or no difference where the claim says better), "
                  f"else not decidable. " + rules_text(100 * SMALLEST_EFFECT, sum(len(x.tests) for x in c.claims
                                                                                 if x.number[0] in "12345"))
                  + " Arms run in all three frameworks are pooled with the framework as a fixed term; ⚠ marks a "
                  "comparison whose frameworks disagree (its pooled verdict is then withheld). A failed seed stays in "
                  "its paired comparisons at its own accuracy (dropping it would hide the failure a schedule "
                  "causes), and there the exact signed-rank test decides.", "notes"),
        Paragraph("In the evidence: a − b, the mean paired difference [its interval, at the level its decision "
                  "used], n pairs, where the runs are, then what it reads against the smallest effect (superiority: "
                  "better by more than it; non-inferiority: not worse by more than it, which is not equivalence), "
                  "and for an undecided comparison the power to reach the claimed verdict at the observed difference "
                  "and what 80 % would need; ✓ the comparison supports the claim, ✗ it contradicts it, ? undecided.",
                  "notes"),
        study_table(CLAIM_COLS, rows, c.styles, "results claims", _verdict_class),
        Paragraph(c.frameworks, "notes"),
        Heading(2, "Ranking of the final runs"),
    ]
    for heading, ranked in c.rankings:
        blocks += [Heading(3, heading), study_table(RANK_COLS, ranked, c.styles)]
    blocks += [
        Paragraph("Rank agreement across frameworks (Spearman's ρ over the arms both ran, exact p): " + c.agreement,
                  "notes"),
        Paragraph("Learned: finished runs whose verdict is not diverged, never learned or collapsed, with an exact "
                  "(Clopper–Pearson) binomial interval. Means, intervals, ranks and curves are over the seeds that "
                  "learned (the failed-seeds rule of every report), the count beside them. Mean of "
                  "last 5 epochs: each run's test accuracy averaged over its last five epochs, then over seeds (less "
                  "noisy than one epoch).", "notes"),
    ]
    if c.has_curves:
        blocks.append(Figure(CURVES_PNG, "test accuracy curves of the final runs",
                             "Test accuracy after each epoch of the finished 30-epoch final runs: mean over seeds, "
                             "band from lowest to highest seed; the constant rate thin in every other panel."))
    blocks.append(Heading(2, "The tuning grid and the chosen rates"))
    if c.has_grid:
        blocks.append(Figure(GRID_PNG, "the tuning grid",
                             "Final validation accuracy (30 epochs on 10,000 images, validated on 10,000 others) "
                             "against the base rate; the chosen rate of each arm with a finished grid starred. "
                             "Nothing here read a test set."))
    return blocks + [study_table(CHOSEN_COLS, c.chosen, c.styles),
                     Heading(2, "Seeds needed"), BulletList(tuple(c.seeds)),
                     Heading(2, "What this study can and cannot decide"), BulletList(tuple(c.limits))]


def build(study_dir: Path | str = STUDY_DIR, out: Path | None = None) -> Path:
    """Write the report; return the path of index.html."""
    study = Path(study_dir)
    out = out or study / OUT
    out.mkdir(parents=True, exist_ok=True)
    tuning = grid.load_grid(study / "tuning")
    final = grid.read_runs(study / "final")
    final = final[final["arm"].notna()]
    table = grid.grid_table(tuning)
    chosen = grid.study_choice(table) if len(table) else pd.DataFrame(columns=["arm", "rate", "val_acc", "n"])
    complete = list(chosen["arm"])
    band = grid.bands(table, complete)
    last = grid.last_rows(final)
    labels = list(grid.ARM_ORDER)
    styles = grid.arm_styles(labels)
    found = claims(last, table, chosen, band)
    rankings = []
    for framework in [f for f in FRAMEWORK_ORDER if f in ALL]:
        rows = ranking(last, framework, chosen)
        if rows:
            rankings.append((fw_label(framework) + (" (every arm, 10 seeds)" if framework == "torch" else
                                                    " (the five arms run in every framework, 3 seeds)"), rows))
    for budget in SHORT_BUDGETS:  # claim 4's evidence, arm by arm, with its failures
        if (last["finished"] & (last["epochs"] == budget)).any():
            rankings.append((f"PyTorch at {budget} epochs (claim 4's short budget: each shape scaled to it, at the "
                             f"rate chosen for 30, 10 seeds)", ranking(last, "torch", chosen, budget)))
    curves = final_curves(final)
    n_final = int(last["finished"].sum())
    c = StudyContent(
        headline(last, found),
        f"{table['n'].sum() if len(table) else 0} finished grid runs in {study / 'tuning'}, {n_final} finished final "
        f"runs in {study / 'final'}; {len(complete)} of {len(ARMS)} arms have a finished grid.",
        found, framework_sentence(found), rankings, rank_agreement_lines(last), not curves.empty, bool(len(table)),
        chosen_rows(table, chosen, band), seeds_lines(table), limits(table, last, chosen), styles)

    images = {}
    with staging(out) as stage:
        if c.has_curves:
            from harness.report.figures import plot_test_accuracy_by_family

            frameworks = [f for f in FRAMEWORK_ORDER if f in set(curves["framework"])]
            groups = [(fam, m) for fam, m in grid.grouped(labels) if set(m) & set(curves["label"])]
            plot_test_accuracy_by_family(curves, frameworks, {f: fw_label(f) for f in frameworks}, groups,
                                         ["constant"], styles, set(),
                                         "Final runs: test accuracy per epoch, by family", stage / CURVES_PNG)
            images[CURVES_PNG] = (stage / CURVES_PNG).read_bytes()
        if c.has_grid:
            grid.grid_figure(table, chosen, stage / GRID_PNG, styles)
            images[GRID_PNG] = (stage / GRID_PNG).read_bytes()
    from harness.studies.confirm_section import confirm_blocks, guideline_study
    from harness.studies.spent import folders_of, spent_blocks

    declared = guideline_study(study)  # its phases name the folders; a copy elsewhere shows the two it has
    blocks = document(c) + confirm_blocks(study) + spent_blocks(
        study, folders_of(declared) if declared else {"tuning": ["tune"], "final": ["final"]})
    return write_report(out, html_page(TITLE, CSS + CSS_EXTRA, blocks, images), to_markdown(blocks), images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.studies.report", description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", nargs="?", default=STUDY_DIR, type=Path,
                        help=f"the study's folder, holding tuning/ and final/ (default {STUDY_DIR})")
    args = parser.parse_args(argv)
    if not (args.study_dir / "tuning").is_dir() and not (args.study_dir / "final").is_dir():
        print(f"harness.studies.report: error: study_dir={str(args.study_dir)!r} has neither tuning/ nor final/; "
              f"run the study first: python -m harness.studies.guideline tune", file=sys.stderr)
        return 2
    index = build(args.study_dir)
    print(f"harness.studies.report: wrote {index} (and report.md, PNGs beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
