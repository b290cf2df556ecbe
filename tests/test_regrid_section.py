"""Claim 6's re-grid section (harness/studies/confirm_section.py): band widths interpolated per seed, the
verdict withheld until every declared re-grid run is in, as the confirmatory seeds' verdicts are."""

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

    complete = section(monkeypatch, tmp_path, leave_out=0)
    assert "144 of 144 declared runs finished." in complete and "withheld" not in complete
    rows = [line for line in complete.splitlines() if line.startswith("| 6")]
    assert len(rows) == 2 and all(row.endswith("| supported |") for row in rows), rows
    # Per seed (curvature x 0.955 ... 1.045): SGD 1.02 ... 0.97 decades, Adam 1.53 ... 1.46, by interpolation
    assert "- constant: seed 2 1.02, seed 3 1.01, seed 4 0.99, seed 5 0.97" in complete
    assert "- constant+adam: seed 2 1.53, seed 3 1.51, seed 4 1.49, seed 5 1.46" in complete
    assert "| 6a | constant+adam − constant | 4 | +0.51, +0.50, +0.50, +0.49 | +0.50 [+0.48, +0.51] | supported |" in complete
