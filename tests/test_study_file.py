"""Studies as files (issue 32): a study file is checked before anything trains, expands to ordinary
sweeps, reuses every committed run, and a user's small study runs end to end with one command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.studies.study_file import load, phase_sweeps, study_sweeps

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_study_files_load():
    guideline = load(ROOT / "studies/guideline.yaml")
    assert [a.label for a in guideline.phases["confirm"].arms] == ["constant", "step", "cosine", "onecycle",
                                                                   "warmup_linear", "wsd"]
    seeds = {a.label: len(a.seeds) for a in guideline.phases["confirm"].arms}
    assert seeds == {"constant": 30, "step": 60, "cosine": 30, "onecycle": 60, "warmup_linear": 30, "wsd": 30}
    assert len(guideline.phases["confirm"].comparisons) == 10
    assert guideline.phases["regrid"].arms[0].rates == (0.00316, 0.00562, 0.01, 0.0178, 0.0316, 0.0562, 0.1, 0.178,
                                                        0.316)
    d2l = load(ROOT / "studies/d2l.yaml")
    assert d2l.report == "runs" and [p.kind for p in d2l.phases.values()] == ["preset", "preset"]
    user = load(ROOT / "studies/warmup_at_1024.yaml")
    assert [p.kind for p in user.phases.values()] == ["grid", "final"]


def test_the_confirmatory_order_is_seed_blocks_then_the_regrid_then_the_extra_seeds():
    study = load(ROOT / "studies/guideline.yaml")
    sweeps = study_sweeps(study)
    confirm = [s for s in sweeps if "results_dir=results/guideline_study/confirm" in s]
    seeds = [next(a for a in s if a.startswith("seed=")) for s in confirm]
    assert len(confirm) == 36 + 12
    assert seeds[:6] == ["seed=10,11,12,13,14"] * 6 and seeds[35] == "seed=35,36,37,38,39"
    first_regrid = next(i for i, s in enumerate(sweeps) if "results_dir=results/guideline_study/regrid" in s)
    assert sweeps.index(confirm[35]) < first_regrid < sweeps.index(confirm[36])  # blocks, the regrid, the rest
    assert {next(a for a in s if a.startswith("scheduler=")) for s in confirm[36:]} == {"scheduler=step",
                                                                                        "scheduler=onecycle"}
    assert sum(len(s.split(",")) for s in seeds) == 240


@pytest.mark.parametrize("text, key", [
    ("name: x\nquestion: q\nresults_dir: r\nphases: {a: {kind: grid, folder: f, seeds: [0, 1]}}\n", "arms"),
    ("name: x\nquestion: q\nresults_dir: r\nphases: {a: {kind: fixd, folder: f}}\n", "kind"),
    ("name: x\nquestion: q\nresults_dir: r\nbogus: 1\nphases: {}\n", "bogus"),
    ("name: x\nquestion: q\nresults_dir: r\narms: {s: [scheduler=constant]}\n"
     "phases: {a: {kind: grid, folder: f, seeds: [1, 0], rates: [0.1]}}\n", "seeds"),
    ("name: x\nquestion: q\nresults_dir: r\narms: {s: [scheduler=constant]}\n"
     "phases: {a: {kind: final, folder: f, seeds: [0, 1], rates_from: nope}}\n", "rates_from"),
    ("name: x\nquestion: q\nresults_dir: r\narms: {s: [scheduler=constant]}\nphases: {a: {kind: fixed, folder: f, "
     "seeds: [0, 1], comparisons: [{claim: c, a: s, b: t, kind: better}]}}\n", "comparisons[0].b"),
])
def test_a_bad_study_file_is_one_line_naming_the_key(tmp_path, text, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(HarnessError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load(bad)
    done = subprocess.run([sys.executable, "-m", "harness", "study", str(bad)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and key.split("[")[0] in done.stderr
    assert not (tmp_path / "r").exists()  # nothing trained, nothing written


def test_a_run_the_study_cannot_train_is_refused_before_any_trains(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\nquestion: q\nresults_dir: {tmp_path / 'out'}\narms: {{a: [optimizer=adam, "
                   "scheduler=cosine]}\nphases: {p: {kind: grid, folder: f, seeds: [0, 0], rates: [0.001]}}\n")
    done = subprocess.run([sys.executable, "-m", "harness", "study", str(bad)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "phase p: scheduler=cosine: final_lr=0.01 must be in [0, base_lr=0.001]" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_guideline_study_file_is_the_exploratory_design_run_for_run():
    """studies/guideline.yaml writes out the exploratory phases that harness/studies/arms.py drove: its grid
    chooses the same rates and its phases compose to the same 440 runs (so none is retrained)."""
    from harness.identity import run_id
    from harness.preflight import preflight
    from harness.studies import guideline
    from harness.studies.outcomes import grid_choices

    study = load(ROOT / "studies/guideline.yaml")
    chosen = {a: c.rate for a, c in grid_choices(study, study.phases["tune"]).items()}
    assert chosen == guideline.chosen_rates()

    def ids(sweeps):
        return {run_id(cfg) for sweep in sweeps for cfg in preflight(sweep)}

    from_file = ids(phase_sweeps(study, "tune")) | {i for p in ("final", "short5", "short10")
                                                    for i in ids(phase_sweeps(study, p, chosen=chosen))}
    assert from_file == ids(guideline.tuning_sweeps()) | ids(guideline.final_sweeps(chosen))
    assert len(from_file) == 440


@pytest.mark.slow
def test_the_d2l_study_file_reuses_every_committed_run():
    done = subprocess.run([sys.executable, "-m", "harness", "study", "studies/d2l.yaml", "--plan"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "study: nothing to train: every declared run has finished" in done.stdout
    assert "54 runs: 54 finished" in done.stdout and "15 runs: 15 finished" in done.stdout


@pytest.mark.slow
def test_a_users_study_runs_with_one_command_and_reports_its_choices_and_comparisons(tmp_path):
    study = tmp_path / "mine.yaml"
    study.write_text(f"""name: mine
question: Does a warmup help Adam?
results_dir: {tmp_path / 'out'}
smallest_effect: 1.0
base: [framework=torch, optimizer=adam, scheduler=cosine, scheduler.unit=step, scheduler.total_steps=null,
       scheduler.final_lr=0,
       batch_size=256, data.train_size=1024, epochs=1]
arms:
  plain: [scheduler.warmup_steps=null]
  warm: [scheduler.warmup_steps=2]
phases:
  tune: {{kind: grid, folder: tune, overrides: [data.val_size=512, data.test_size=512], seeds: [0, 1],
         rates: [0.001, 0.003]}}
  final: {{kind: final, rates_from: tune, folder: final, overrides: [data.test_size=512], seeds: [0, 1],
          comparisons: [{{claim: warmup helps, a: warm, b: plain, kind: better}}]}}
""")
    done = subprocess.run([sys.executable, "-m", "harness", "study", str(study)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = [line for line in done.stdout.splitlines() if line.startswith("study: tune: ")]
    assert len(chosen) == 2 and all("chosen rate" in line for line in chosen)
    md = (tmp_path / "out/_report/report.md").read_text()
    assert "| warm − plain | better | 2 |" in md and "4 of 4" in md
    again = subprocess.run([sys.executable, "-m", "harness", "study", str(study)], capture_output=True, text=True,
                           cwd=ROOT)
    assert again.returncode == 0 and again.stdout.count("every one finished before: skipped") == 4


@pytest.mark.slow
def test_the_guideline_readme_quotes_the_report_and_the_report_is_the_parquets(tmp_path, monkeypatch):
    """The guideline README's verdict and re-grid tables are re-derived: every interval they quote stands in the
    committed report, and that report is what the committed parquet builds today, byte for byte."""
    import re

    from harness.studies.report import build

    committed = (ROOT / "results/guideline_study/_report/report.md").read_text()
    # What is committed, copied (a run still training in this checkout is not), read from where it sits as
    # make guideline reads it: relative to the working folder, so the report names its folders the same.
    tracked = subprocess.run(["git", "ls-files", "results/guideline_study"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    for name in tracked:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    rebuilt = build("results/guideline_study", tmp_path / "out").parent.joinpath("report.md").read_text()

    assert rebuilt == committed, "rebuild it: python -m harness study studies/guideline.yaml --report"
    readme = (ROOT / "results/guideline_study/_README.md").read_text()
    # The re-grid's table in the README: each row's seeds, mean [interval] and verdict are the report's claim-6 row.
    regrid = readme.split("| claim | Adam − SGD, per seed")[1].split("\n\n")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in regrid.splitlines()[2:]]
    assert [row[0] for row in rows] == ["6a, constant", "6b, cosine"]
    for claim, seeds, interval, verdict in rows:
        assert re.search(rf"\| {claim.split(',')[0]} \| [^|]+ \| 4 \| {re.escape(seeds)} \| {re.escape(interval)} \| "
                         rf"{verdict} \|", committed), claim
    table = readme.split("| # | claim | verdict (one family)")[1].split("\n\n")[0]
    quoted = re.findall(r"[+−]\d+\.\d\d \[[+−]\d+\.\d\d, [+−]\d+\.\d\d\]", table)
    assert len(quoted) >= 15
    for interval in quoted:
        mean, bounds = interval.split(" ", 1)
        assert f"{mean} pp {bounds}" in committed, interval
