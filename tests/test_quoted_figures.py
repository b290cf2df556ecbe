"""The figures the READMEs quote from the committed studies are re-derived here (issue 32, item 5).

Each study's report is rebuilt from its committed parquet and must equal the committed report; then every
figure a README quotes must stand in that report in the report's own words. A README sentence that drifts
from the numbers (the d2l headline once said "ρ = 1.00 for every pair" after two pairs fell to 0.90) fails.
The guideline study's report and README table are checked in tests/test_study_file.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT as ROOT

pytestmark = pytest.mark.slow  # each rebuilds a study's report from its parquet (5-20 s)


def section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of any level."""
    return re.split(r"\n#+ ", text.split(heading, 1)[1], maxsplit=1)[0]


def quotes(readme_part: str, report: str, pairs: list[tuple[str, str]]) -> None:
    for in_readme, in_report in pairs:
        assert in_readme in readme_part, f"the README no longer says {in_readme!r}: update this test with it"
        assert in_report in report, f"the README says {in_readme!r}, but the report does not say {in_report!r}"


@pytest.fixture(scope="module")
def d2l_report(tmp_path_factory) -> str:
    from harness.report import build_report

    out = tmp_path_factory.mktemp("d2l_report")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the report names its folder as given: relative, as make reproduce gives it
        rebuilt = build_report([Path("results/d2l_study")], out).parent.joinpath("report.md").read_text()
    assert rebuilt == (ROOT / "results/d2l_study/_report/report.md").read_text(), "rebuild it: make reproduce"
    return rebuilt


def test_the_d2l_headline_in_the_readme_is_the_reports(d2l_report):
    answer = section((ROOT / "README.md").read_text(), "## The answer")
    quotes(answer, d2l_report, [
        ("PyTorch 90.1 %", "PyTorch 90.1%"),
        ("TensorFlow 90.2 %", "TensorFlow 90.2%"),
        ("MXNet 90.2 %", "MXNet 90.2%"),
        ("1.39 points above the constant rate", "against the constant rate +1.39 pp"),
        ("+0.77 to +2.01", "95% interval +0.77 pp to +2.01 pp"),
        ("9 paired seeds", "n=9 paired seeds"),
        ("(ANOVA p = 0.83)", "(ANOVA p = 0.83;"),
        ("power 0.11 for a 0.6-point shift", "its power for a 0.6-pt shift of one framework is 0.11"),
        ("between PyTorch and TensorFlow\n(Spearman ρ = 1.00, exact permutation p = 0.017)",
         "PyTorch vs TensorFlow ρ = 1.00, exact p = 0.017, n = 5: agree"),
        ("against MXNet ρ = 0.90 (p = 0.083)", "PyTorch vs MXNet ρ = 0.90, exact p = 0.083, n = 5"),
        ("against MXNet ρ = 0.90 (p = 0.083)", "TensorFlow vs MXNet ρ = 0.90, exact p = 0.083, n = 5"),
        ("12 of the chapter's 15 published figures", "reproduced within our seed spread: 12 of 15"),
        ("left 2 of 3 seeds stuck at\nchance in TensorFlow and in MXNet",
         "| TensorFlow | multifactor | lr 0.5, factor=0.5, at=[15, 30] | 3 | 86.41% (n=1) (1 of 3 seeds learned; 2 failed)"),
        ("left 2 of 3 seeds stuck at\nchance in TensorFlow and in MXNet",
         "| MXNet | multifactor | lr 0.5, factor=0.5, at=[15, 30] | 3 | 88.25% (n=1) (1 of 3 seeds learned; 2 failed)"),
        ("never\nlearns in any framework", "| — | factor | no seed learned | no seed learned | no seed learned |"),
        ("1.5 to 3.0 points below the\npublished figures", "MXNet sqrt (80.0% vs 81.5%, −1.5 pp"),
        ("1.5 to 3.0 points below the\npublished figures", "MXNet warmup (84.1% vs 87.1%, −3.0 pp"),
    ])


def test_the_guideline_paragraph_in_the_readme_is_the_reports():
    paragraph = section((ROOT / "README.md").read_text(), "## The guides' advice, tested")
    report = (ROOT / "results/guideline_study/_report/report.md").read_text()  # re-derived: test_study_file.py
    quotes(paragraph, report, [
        ("one Holm family of 35", "family of 35"),
        ("each interval above +0.46, n=10", "onecycle − constant +2.00 pp [+0.46, +3.53] at 99.8 %, n=10"),
        ("by 1.5-2.7 points", "onecycle − cosine +1.52 pp [+0.50, +2.53]"),
        ("by 1.5-2.7 points", "onecycle − step +2.72 pp [+1.56, +3.89]"),
        ("(0.7-1.5 points)", "would have to reach +0.66 pp at these seeds"),
        ("(0.7-1.5 points)", "would have to reach +1.53 pp at these seeds"),
        ("step − one-cycle −0.69 points, −1.45 to +0.08", "step − onecycle −0.69 pp [−1.45, +0.08]"),
    ])
    needs = [float(x) for x in re.findall(r"would have to reach \+(\d\.\d\d) pp", report)]
    assert round(min(needs), 1) == 0.7 and round(max(needs), 1) == 1.5  # the quoted range, end to end


def test_the_transfer_readme_is_its_report_and_the_report_is_the_parquets(tmp_path, monkeypatch):
    from harness.studies.run_study import build_report
    from harness.studies.study_file import load

    # The study writes its report beside its runs: build it on a copy, named as make would name it.
    shutil.copytree(ROOT / "results/transfer_study", tmp_path / "results/transfer_study",
                    ignore=shutil.ignore_patterns("_report"))
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    rebuilt = Path(build_report(load("studies/transfer.yaml"))).parent.joinpath("report.md").read_text()
    assert rebuilt == (ROOT / "results/transfer_study/_report/report.md").read_text(), \
        "rebuild it: python -m harness study studies/transfer.yaml --report"

    readme = (ROOT / "results/transfer_study/_README.md").read_text()
    table = section(readme, "## What it found")
    rows = re.findall(r"^\| ([a-z +-]+) \| (#\d [\d.]+ %) \| (#\d [\d.]+ %) \| (#\d [\d.]+ %) \|$", table, re.M)
    assert len(rows) == 5
    names = {"warmup + cosine": "warmup", "one-cycle": "onecycle"}
    for arm, *cells in rows:
        row = f"| {names.get(arm, arm)} | " + " | ".join(rf"{re.escape(c)} ±\d\.\d\d \(n=10\)" for c in cells) + " |"
        assert re.search(row, rebuilt), f"the README's {arm} row is not the report's"
    for pair, rho, p, power in [("LeNet, Fashion-MNIST ~ mnist1d", "+0.20", "0.78", "0.51"),
                                ("LeNet, Fashion-MNIST ~ digits", "+0.60", "0.35", "0.13"),
                                ("mnist1d ~ digits", "+0.00", "1.00", "0.05")]:
        assert re.search(rf"\| {re.escape(pair)} \| {re.escape(rho)} \| {p}\d \| {power} \|", rebuilt), pair
    assert ("LeNet ~ MNIST-1D +0.20 (exact p 0.78), LeNet ~ digits +0.60 (p 0.35), MNIST-1D ~ digits 0.00 (p 1.00)"
            in " ".join(table.split()))
    assert "is 0.51, 0.13 and 0.05" in " ".join(table.split())


def test_the_guideline_readme_quotes_its_grid_and_ranking():
    import pandas as pd

    readme = " ".join((ROOT / "results/guideline_study/_README.md").read_text().split())
    report = (ROOT / "results/guideline_study/_report/report.md").read_text()  # re-derived: test_study_file.py
    # The chosen-rate table (two arms a line): each pair (arm, rate, validation accuracy) is the report's.
    chosen = re.findall(r"\| ([a-z_+]+) \| ([\d.]+)(?: \(peak\))? \| ([\d.]+) % \|", readme)
    assert len(chosen) == 15
    for arm, rate, acc in chosen:
        assert f"| {arm} | {rate} | {acc}% |" in report, arm
    # The 30-epoch ranking's top and the Adam arms, as the report's headline gives them.
    for arm, acc in [("warmup_linear", "90.74"), ("wsd", "90.70"), ("onecycle", "90.68"), ("warmup", "90.57"),
                     ("cosine+adam", "90.88"), ("constant+adam", "89.94")]:
        assert re.search(rf"\| {re.escape(arm)} \| [\d.]+ \| 10 of 10 \| {acc}% ", report), arm
    assert ("warmup + linear 90.74 %, WSD 90.70 %, one-cycle 90.68 %, warmup + cosine 90.57 %" in readme
            and "cosine to 0 reaches 90.88 % and a constant rate 89.94 %" in readme)
    assert "Spearman's ρ = 1.00 for each pair, exact p = 0.017 with 5 arms" in readme
    assert report.count("ρ=1.00 (p=0.017, 5 arms)") == 3
    # "0.001 came out 8.4, 13.5 and 11.5 points below the best": from the grid's parquet itself.
    runs = pd.concat(pd.read_parquet(f) for f in (ROOT / "results/guideline_study/tuning").glob("*/epochs.parquet"))
    last = runs[(runs.epoch == runs.epochs - 1) & (runs.optimizer == "sgd")]
    gaps, at_001 = [], []
    for arm in ("constant", "step", "cosine"):
        means = last[last.scheduler == arm].groupby("base_lr").val_acc.mean() * 100
        gaps.append(f"{means.max() - means[0.001]:.1f}")
        at_001.append(f"{arm} {means[0.001]:.2f} %")
    assert f"0.001 came out {gaps[0]}, {gaps[1]} and {gaps[2]} points below the best" in readme, gaps
    assert f"({', '.join(at_001)} mean validation accuracy" in readme, at_001
