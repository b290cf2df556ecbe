"""The guideline report's confirmatory section (studies/guideline.yaml, declared before its runs): the
confirmatory verdicts from the fresh seeds alone, the exploratory verdicts beside them under the same
rules, the claim-6 re-grid's band widths interpolated per seed, and claim 4's time to a target accuracy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.paths import STUDIES_DIR
from harness.report.blocks import Block, BulletList, Heading, Paragraph
from harness.studies import decide
from harness.studies.study_file import Study, load
from harness.studies.exploratory import exploratory_values
from harness.studies.study_report import decision_row, rules_text, values_blocks
from harness.studies.tables import text_table as _table

STUDY_FILE = STUDIES_DIR / "guideline.yaml"


def decisions_blocks(study: Study, study_dir: Path) -> list[Block]:
    from harness.studies.outcomes import phase_values

    phase = study.phases["confirm"]
    pv = phase_values(study, phase)
    complete = all(pv.finished.get(a.label, 0) >= pv.expected.get(a.label, 0) > 0 for a in phase.arms)
    done, declared = sum(pv.finished.values()), sum(pv.expected.values())
    confirm = decide.decide(phase.comparisons, pv.values, study.smallest_effect, pv.failed)
    ev, ef = exploratory_values(study_dir, [a.label for a in phase.arms])
    explore = decide.decide(phase.comparisons, ev, study.smallest_effect, ef)
    rows = []
    for c, e in zip(confirm, explore):
        row = decision_row(c, study.smallest_effect)
        row[6] = (row[6] if complete else f"withheld ({row[6]} so far)")
        rows.append(row + [f"{e.verdict} ({_pt(e.estimate.mean)} [{_pt(e.lo)}, {_pt(e.hi)}], n={e.estimate.n})"])
    claims = []
    for claim, mode in phase.claims.items():
        conf = decide.combine([d.verdict for d in confirm if d.claim == str(claim)], mode) if complete else "withheld"
        expl = decide.combine([d.verdict for d in explore if d.claim == str(claim)], mode)
        claims.append(f"claim {claim}: confirmatory **{conf}**; exploratory (seeds 0-9, same rules) {expl}")
    blocks: list[Block] = [
        Heading(2, f"Confirmatory phase (declared {phase.declared}, before its runs)"),
        Paragraph(f"Fresh PyTorch seeds, analysed on their own; the exploratory verdicts under the same rules are "
                  f"beside them. {done} of {declared} declared runs finished."
                  + ("" if complete else " Its verdicts are withheld until every declared run is in (no optional "
                                          "stopping); the intervals below are the runs so far."), "headline",
                  markup=False),
        Paragraph(rules_text(study.smallest_effect, len(confirm)), "notes", markup=False),
        BulletList(tuple(claims)),
        _table(["claim", "comparison", "kind", "n", "mean (pt)", "interval", "confirmatory verdict",
                "power (at the observed difference)", "80 % power needs", "exploratory (same rules)"], rows),
    ]
    blocks += values_blocks(phase, pv)
    blocks += time_to_target_blocks(study_dir, pv.curves, phase.time_to_target)
    return blocks


def _pt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.2f}".replace("-", "−")


def time_to_target_blocks(study_dir: Path, confirm_curves: dict, target: float | None) -> list[Block]:
    """Claim 4 as AlgoPerf reads it: epochs to reach ``target`` test accuracy, per schedule and budget."""
    if target is None:
        return []
    from harness.studies.grid import read_runs

    keyed = []  # (schedule, budget, exploratory first, row): a schedule's budgets in numeric order
    final = read_runs(study_dir / "final")
    final = final[final["framework"] == "torch"]
    for (arm, budget), g in final.groupby(["arm", "epochs"]):
        curves = [run.sort_values("epoch")["test_acc"].tolist() for _, run in g.groupby("run_id")]
        keyed.append((str(arm), int(budget), 0, _ttt_row(str(arm), f"{int(budget)} (exploratory)", curves, target)))
    for arm, curves in confirm_curves.items():
        if curves:  # the budget the phase trained (a diverged run stops early, so the longest curve)
            budget = max(len(c) for c in curves.values())
            keyed.append((arm, budget, 1, _ttt_row(arm, f"{budget} (confirmatory)", list(curves.values()), target)))
    rows = [row for *_, row in sorted(keyed, key=lambda k: k[:3])]
    return [Heading(3, f"Claim 4, time to target: epochs to reach {100 * target:.0f} % test accuracy"),
            Paragraph("A reading, not a test (AlgoPerf style): for each run the first epoch whose test accuracy reaches "
                      "the target; the median and range over the runs that reached it, and how many did.", "notes",
                      markup=False),
            _table(["schedule", "budget (epochs)", "median epochs [range]", "reached"], rows)]


def _ttt_row(arm: str, budget: str, curves: list[list[float]], target: float) -> list[str]:
    hits = [next((i + 1 for i, v in enumerate(c) if v >= target), None) for c in curves]
    reached = [h for h in hits if h is not None]
    text = f"{np.median(reached):g} [{min(reached)}–{max(reached)}]" if reached else "—"
    return [arm, budget, text, f"{len(reached)} of {len(hits)}"]


def band_blocks(study: Study) -> list[Block]:
    """Claim 6 from the re-grid: each seed's band of rates within ``band_points`` of its best validation
    accuracy, interpolated on log10(rate); Adam's width minus SGD's, paired by seed."""
    from harness.studies.grid import last_rows, read_runs

    phase = study.phases["regrid"]
    folder = Path(study.results_dir) / phase.folder
    last = last_rows(read_runs(folder)) if folder.is_dir() else pd.DataFrame()
    if last.empty:
        return [Heading(3, "Claim 6, re-grid"), Paragraph("No re-grid run has finished yet.", "notes", markup=False)]
    within = float(phase.band_points or 1.0)
    step = min(np.diff(np.log10(sorted(phase.arms[0].rates))))
    widths: dict[str, dict[int, float]] = {}
    censored = []
    # Like the confirmatory seeds, the re-grid's verdict waits for every declared run (no optional stopping).
    declared = {arm.label: len(arm.rates) * len(phase.seeds_for(arm, phase.framework)) for arm in phase.arms}
    finished = {arm.label: int(((last["arm"] == arm.label) & last["finished"]).sum()) for arm in phase.arms}
    complete = all(finished[a] >= declared[a] for a in declared)
    for arm in phase.arms:
        runs = last[(last["arm"] == arm.label) & last["finished"]]
        widths[arm.label] = {}
        for seed, g in runs.groupby("seed"):
            if len(g) < len(arm.rates):
                continue  # a seed's band needs every rate of the grid
            lo, hi, width, c_lo, c_hi = decide.band_width(g["rate"].to_numpy(), 100 * g["val"].to_numpy(), within)
            widths[arm.label][int(seed)] = width
            if c_lo or c_hi:
                censored.append(f"{arm.label} seed {seed}")
    rows = []
    for c in phase.comparisons:
        a, b = widths.get(c.a, {}), widths.get(c.b, {})
        seeds = sorted(set(a) & set(b))
        diffs = np.array([a[s] - b[s] for s in seeds])
        est = decide.estimate({"torch": diffs})
        lo, hi = est.interval(0.95)
        verdict = decide.verdict_of("better", lo, hi, step) if len(seeds) >= 2 else decide.UNDECIDED
        verdict = verdict if complete else f"withheld ({verdict} so far)"
        rows.append([c.claim, f"{c.a} − {c.b}", str(len(seeds)),
                     ", ".join(_pt(d) for d in diffs) or "—", f"{_pt(est.mean)} [{_pt(lo)}, {_pt(hi)}]",
                     verdict])
    per_arm = [f"{arm}: " + (", ".join(f"seed {s} {w:.2f}" for s, w in sorted(ws.items())) if ws else
                             "no seed has finished every rate yet") for arm, ws in widths.items()]
    return [Heading(3, "Claim 6 from the re-grid: the band of good rates, interpolated per seed"),
            Paragraph(f"Per seed, the rates whose validation accuracy (linearly interpolated on log10 of the rate) is "
                      f"within {within:g} point of that seed's best; the grid has {1 / step:.0f} rates per decade "
                      f"(resolution {step:.2f} decades). Adam needs less tuning when its band is wider than SGD's by "
                      f"more than one grid step ({step:.2f} decades), paired by seed (95 % t interval). "
                      f"{sum(finished.values())} of {sum(declared.values())} declared runs finished"
                      + ("." if complete else "; the verdict is withheld until every one is in."), "notes",
                      markup=False),
            BulletList(tuple(per_arm + ([f"the band reaches the grid's end (may be wider): {', '.join(censored)}"]
                                        if censored else []))),
            _table(["claim", "band width, decades", "n seeds", "each seed", "mean [95 %]", "verdict"], rows)]


def guideline_study(study_dir: Path) -> Study | None:
    """The guideline study file, when ``study_dir`` is where it writes as seen from here (its phases are read
    from ``results_dir`` relative to the working folder, as ``make guideline`` runs it); else None."""
    if not STUDY_FILE.is_file():
        return None
    study = load(STUDY_FILE)
    return study if Path(study.results_dir).resolve() == Path(study_dir).resolve() else None


def confirm_blocks(study_dir: Path) -> list[Block]:
    """The section, or nothing when the study file has no confirmatory phase."""
    study = guideline_study(study_dir)
    if study is None or "confirm" not in study.phases:
        return []
    blocks = decisions_blocks(study, study_dir)
    if "regrid" in study.phases:
        blocks += band_blocks(study)
    return blocks
