"""The guideline report's confirmatory section (harness/studies/confirm_section.py): the confirmatory seeds'
verdicts and claim 6's re-grid band widths, each withheld until every declared run of its phase is in."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from harness.report.blocks import to_markdown
from harness.studies import confirm_section, grid
from harness.studies.study_file import load
from tests.conftest import PROJECT_ROOT


def regrid_rows(study, leave_out: int = 0) -> pd.DataFrame:
    """One finished row per declared re-grid run: a validation accuracy peaked on log10(rate), SGD's
    band within 1 point 1.0 decade wide (±0.5), Adam's 1.5 decades (±0.75), each seed a little off."""
    phase = study.phases["regrid"]
    rows = []
    for arm in phase.arms:
        curvature = 0.0178 if arm.label.endswith("+adam") else 0.04  # 1 point at ±0.75 or ±0.5 decades
        centre = float(np.median(np.log10(arm.rates)))
        for seed in phase.seeds_for(arm, "torch"):
            wobble = 1 + 0.03 * (seed - 3.5)
            for rate in arm.rates:
                d = math.log10(rate) - centre
                rows.append({"run_id": f"{arm.label}-{rate}-{seed}", "epoch": 29, "status": "complete",
                             "verdict": "converging", "val_acc": 0.90 - curvature * wobble * d * d,
                             "test_acc": 0.89, "arm": arm.label, "rate": rate, "seed": seed})
    return pd.DataFrame(rows[:len(rows) - leave_out])


def section(monkeypatch, tmp_path, leave_out: int) -> str:
    study = load(PROJECT_ROOT / "studies/guideline.yaml")
    study = dataclasses.replace(study, results_dir=str(tmp_path))
    (tmp_path / study.phases["regrid"].folder).mkdir(exist_ok=True)
    monkeypatch.setattr(grid, "read_runs", lambda folder: regrid_rows(study, leave_out))
    return to_markdown(confirm_section.band_blocks(study))


def test_the_band_verdict_waits_for_every_declared_run(monkeypatch, tmp_path):
    partial = section(monkeypatch, tmp_path, leave_out=1)
    assert "143 of 144 declared runs finished; the verdict is withheld until every one is in." in partial
    # cosine+adam's last seed lacks a rate: its band is not measured, the other three seeds' are
    assert "| 6b | cosine+adam − cosine | 3 |" in partial and "withheld (supported so far)" in partial

    early = section(monkeypatch, tmp_path, leave_out=40)  # cosine+adam's 36 runs and 4 of constant+adam's
    assert "- cosine+adam: no seed has finished every rate yet" in early
    assert "- constant+adam: seed 2 1.53, seed 3 1.51, seed 4 1.49" in early and "| 6b | cosine+adam − cosine | 0 |" in early

    complete = section(monkeypatch, tmp_path, leave_out=0)
    assert "144 of 144 declared runs finished." in complete and "withheld" not in complete
    rows = [line for line in complete.splitlines() if line.startswith("| 6")]
    assert len(rows) == 2 and all(row.endswith("| supported |") for row in rows), rows
    # Per seed (curvature x 0.955 ... 1.045): SGD 1.02 ... 0.97 decades, Adam 1.53 ... 1.46, by interpolation
    assert "- constant: seed 2 1.02, seed 3 1.01, seed 4 0.99, seed 5 0.97" in complete
    assert "- constant+adam: seed 2 1.53, seed 3 1.51, seed 4 1.49, seed 5 1.46" in complete
    assert "| 6a | constant+adam − constant | 4 | +0.51, +0.50, +0.50, +0.49 | +0.50 [+0.48, +0.51] | supported |" in complete


def confirm_values(study, missing: int = 0):
    """Every declared confirmatory run (PyTorch, each arm's seeds): one-cycle, warmup_linear and WSD at
    90.7 %, cosine 90.2 %, step 89.9 %, constant 89.5 %, each seed +-0.15 around it; ``missing`` runs of
    one-cycle not finished yet."""
    from harness.studies.outcomes import PhaseValues

    phase = study.phases["confirm"]
    means = {"constant": 89.5, "step": 89.9, "cosine": 90.2, "onecycle": 90.7, "warmup_linear": 90.7, "wsd": 90.7}
    values, expected, finished = {}, {}, {}
    for arm in phase.arms:
        seeds = phase.seeds_for(arm, "torch")
        kept = seeds[:len(seeds) - missing] if arm.label == "onecycle" else seeds
        values[arm.label] = {("torch", s): means[arm.label] + 0.15 * (-1) ** s for s in kept}
        expected[arm.label], finished[arm.label] = len(seeds), len(kept)
    return PhaseValues(values, {a: set() for a in values}, finished, expected, {a: {} for a in values})


def test_the_confirmatory_verdicts_wait_for_every_declared_run(monkeypatch):
    from harness.studies import outcomes

    study = load(PROJECT_ROOT / "studies/guideline.yaml")
    explore = ({a.label: {("torch", s): 90.0 for s in range(10)} for a in study.phases["confirm"].arms},
               {a.label: set() for a in study.phases["confirm"].arms})
    monkeypatch.setattr(confirm_section, "exploratory_values", lambda folder, arms: explore)
    monkeypatch.setattr(confirm_section, "time_to_target_blocks", lambda *args: [])

    def markdown(missing: int) -> str:
        monkeypatch.setattr(outcomes, "phase_values", lambda *args, **kw: confirm_values(study, missing))
        return to_markdown(confirm_section.decisions_blocks(study, PROJECT_ROOT / study.results_dir))

    partial = markdown(missing=1)
    assert "239 of 240 declared runs finished. Its verdicts are withheld until every declared run is in" in partial
    assert "- claim 2b: confirmatory **withheld**" in partial
    assert "| 2b | cosine − constant | better | 30 | +0.70 |" in partial and "withheld (supported so far)" in partial

    complete = markdown(missing=0)
    assert "240 of 240 declared runs finished." in complete and "withheld" not in complete
    # cosine beats constant by 0.70 (> 0.3) with a tight interval, but loses to one-cycle, warmup_linear
    # and WSD: the claim "cosine beats them" is contradicted; constant is worse than one-cycle by 1.2.
    assert "| 2b | cosine − constant | better | 30 | +0.70 |" in complete
    assert "- claim 2b: confirmatory **contradicted**" in complete
    assert "- claim 1: confirmatory **contradicted**" in complete


def test_time_to_target_counts_epochs_and_lists_each_schedules_budgets_in_numeric_order(monkeypatch, tmp_path):
    """Epoch k (1-based) is the first whose test accuracy reaches the target; budgets 5, 10, 30, then the
    confirmatory 30 (as text, "10" < "30" < "5" had put the 5-epoch runs last)."""
    def runs(arm, budget, first_hits):
        return [{"run_id": f"{arm}-{budget}-{i}", "framework": "torch", "arm": arm, "epochs": budget, "epoch": e,
                 "test_acc": 0.9 if hit is not None and e + 1 >= hit else 0.5}
                for i, hit in enumerate(first_hits) for e in range(budget)]

    final = pd.DataFrame(runs("step", 30, [8, 10, 12]) + runs("step", 5, [None, None]) + runs("step", 10, [7, None])
                         + runs("cosine", 10, [9]))
    monkeypatch.setattr(grid, "read_runs", lambda folder: final)
    confirm = {"step": {10: [0.5] * 5 + [0.9] * 25, 11: [0.5] * 29 + [0.9]}, "cosine": {}}  # none finished
    table = to_markdown(confirm_section.time_to_target_blocks(tmp_path, confirm, 0.89))
    rows = [line for line in table.splitlines() if line.startswith("| cosine") or line.startswith("| step")]
    assert rows == ["| cosine | 10 (exploratory) | 9 [9–9] | 1 of 1 |",
                    "| step | 5 (exploratory) | — | 0 of 2 |",
                    "| step | 10 (exploratory) | 7 [7–7] | 1 of 2 |",
                    "| step | 30 (exploratory) | 10 [8–12] | 3 of 3 |",
                    "| step | 30 (confirmatory) | 18 [6–30] | 2 of 2 |"], rows
