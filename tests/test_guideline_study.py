"""The guideline study's grid reader and report (harness/studies/grid.py, report.py) on a synthetic
study written with the real writer (harness.results.write_epochs), shaped like the real one:

- tuning/: constant, step, cosine, warmup, warmup_linear, plateau, cyclic (peak rate in
  schedule_params) and constant+adam with every rate x seeds 0, 1; cosine+adam with three of its
  six rates only (an incomplete grid); step's seed 1 diverged at 0.3, constant's collapsed there;
- final/: constant, step, cosine, warmup in PyTorch (seeds 0-9), TensorFlow and MXNet (0-2);
  warmup_linear and plateau in PyTorch; onecycle absent (claim 2's family incomplete).

Final test accuracies: a per-(framework, seed) offset shared by every arm (pairing removes it)
plus a tiny per-arm wobble; the arms' levels are LEVEL below, so the claims' verdicts are known.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results import SCHEMA_VERSION, write_epochs
from harness.studies import grid
from harness.studies.arms import ADAM_RATES, ARMS
from harness.studies.arms import SGD_RATES_FIRST as SGD_RATES  # the 6-rate grid; most arms run its last 5

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

# Validation accuracy per grid rate index (SGD_RATES / ADAM_RATES order), the mean of the two
# seeds (seed 0 +0.001, seed 1 -0.001).
GRID = {
    "constant": [0.80, 0.85, 0.875, 0.88, 0.872, 0.45],  # at 0.3: seeds 0.80 and 0.10 (collapsed)
    "step": [0.78, 0.84, 0.87, 0.885, 0.86, 0.70],
    "cosine": [0.79, 0.85, 0.88, 0.887, 0.87, 0.70],
    "warmup": [0.79, 0.85, 0.88, 0.887, 0.875, 0.72],
    "warmup_linear": [0.79, 0.85, 0.88, 0.89, 0.88, 0.70],  # the best on validation: claim 1's challenger
    "plateau": [0.80, 0.85, 0.875, 0.88, 0.87, 0.65],
    "cyclic": [0.80, 0.85, 0.875, 0.882, 0.87, 0.65],
    "constant+adam": [0.84, 0.875, 0.88, 0.878, 0.874, 0.80],  # a flat band: 0.0003-0.01
}
INCOMPLETE = ("cosine+adam", [0.85, 0.87, 0.88])  # three of six rates
LEVEL = {"constant": 0.900, "step": 0.905, "cosine": 0.910, "warmup": 0.910, "warmup_linear": 0.918, "plateau": 0.890}
POOLED = ("constant", "step", "cosine", "warmup")
OPTION = {"constant+adam": "constant", "cosine+adam": "cosine"}


def _row(arm, framework, seed, epoch, epochs, test, val, rate, status, verdict, train_size, planned=30):
    option = OPTION.get(arm, arm)
    adam = arm.endswith("+adam")
    params = {"kind": option, "base_lr": rate, "unit": "epoch"}
    base_lr = rate
    if arm == "cyclic":
        params.update(max_lr=rate, base_lr=rate / 10)
        base_lr = rate / 10
    loss = math.nan if status == "diverged" and epoch == epochs - 1 else 1 - test
    return {
        "run_id": f"{framework}-{arm}-{rate:g}-{seed}-{train_size}-{planned}", "framework": framework,
        "framework_version": "0-synthetic", "device": "cpu", "tf32": False, "protocol": "clean", "model": "lenet",
        "scheduler": option, "unit": "epoch", "optimizer": "adam" if adam else "sgd", "base_lr": base_lr, "seed": seed,
        "batch_size": 256, "epochs": planned, "train_size": train_size, "test_size": 10000, "epoch": epoch,
        "step": 40 * (epoch + 1), "lr": base_lr, "step_lrs": [base_lr] * 4, "train_loss": loss, "train_acc": test + 0.02,
        "test_loss": loss, "test_acc": test, "train_time_s": 1.0, "eval_time_s": 0.1, "status": status,
        "git_sha": "abc", "schema_version": SCHEMA_VERSION, "variant": option, "schedule_params": json.dumps(params),
        "optimizer_params": "{}", "val_loss": None if val is None else 1 - val, "val_acc": val, "verdict": verdict,
    }


def _write(root: Path, arm, framework, seed, accs, rate, status="complete", verdict="converging", val=None,
           train_size=60000, planned=30):
    """One run: accs[i] is the test accuracy of its epoch 25 + i (the last epochs of 30)."""
    n = len(accs)
    rows = [_row(arm, framework, seed, planned - n + i, planned, a, val[i] if val else None, rate, status, verdict,
                 train_size, planned) for i, a in enumerate(accs)]
    for i, r in enumerate(rows):
        r["epoch"] = i if status != "complete" else r["epoch"]
    write_epochs(root / f"{framework}-{arm}-s{seed}-{rate:g}-e{planned}", rows)


def make_study(root: Path) -> Path:
    tuning, final = root / "tuning", root / "final"
    arm_rates = {a.label: a.rates for a in ARMS}
    for arm, values in [*GRID.items(), INCOMPLETE]:
        rates = ADAM_RATES if arm.endswith("+adam") else SGD_RATES
        skipped = len(rates) - len(arm_rates[arm])  # the arms whose grid starts at 0.003
        for i, v in enumerate(values):
            if i < skipped:
                continue
            for seed in (0, 1):
                val = v + (0.001 if seed == 0 else -0.001)
                status, verdict = "complete", "converging"
                if arm == "step" and i == 5 and seed == 1:
                    status, verdict, val = "diverged", "diverged", 0.35  # counted at chance, 0.1
                if arm == "constant" and i == 5:
                    verdict, val = ("converging", 0.80) if seed == 0 else ("collapsed", 0.10)
                if verdict == "collapsed":  # learned (0.80), then fell to chance: the curve says so, not the label
                    _write(tuning, arm, "torch", seed, [0.79, val - 0.01], rates[i], status, verdict, [0.80, val], 10000)
                    continue
                _write(tuning, arm, "torch", seed, [val - 0.01], rates[i], status, verdict, [val], 10000)
    offset = {(f, s): 0.002 * (((s * 7) % 5) - 2) + {"torch": 0, "tf": -0.004, "mxnet": 0.003}[f]
              for f in ("torch", "tf", "mxnet") for s in range(10)}
    for k, (arm, level) in enumerate(LEVEL.items()):
        frameworks = ("torch", "tf", "mxnet") if arm in POOLED else ("torch",)
        rate = SGD_RATES[3]
        for f in frameworks:
            for s in range(10 if f == "torch" else 3):
                acc = level + offset[(f, s)] + 0.0003 * (1 + k % 3) * (-1) ** (s + k)
                _write(final, arm, f, s, [acc - 0.004, acc - 0.003, acc - 0.002, acc - 0.001, acc], rate,
                       train_size=50000 if arm == "plateau" else 60000)
    # a final run still running: counted as started, not finished
    _write(final, "constant+adam", "torch", 0, [0.85, 0.86], ADAM_RATES[2], status="running", verdict=None)
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("guideline"))


@pytest.fixture(scope="module")
def built(study, tmp_path_factory):
    """The report of the synthetic study, built once (figures are most of its ten seconds)."""
    from harness.studies import report

    return report.build(study, tmp_path_factory.mktemp("built") / "out")


def test_grid_table_arms_rates_and_failures(study):
    table = grid.grid_table(grid.load_grid(study / "tuning"))
    assert list(dict.fromkeys(table["arm"])) == ["constant", "step", "cosine", "warmup", "warmup_linear", "cyclic",
                                                 "plateau", "constant+adam", "cosine+adam"]
    cyclic = table[table["arm"] == "cyclic"]
    assert list(cyclic["rate"]) == list(SGD_RATES[1:])  # the peak (max_lr), not base_lr = peak / 10
    step = table[(table["arm"] == "step") & (table["rate"] == 0.3)].iloc[0]
    assert (step["n"], step["diverged"], step["collapsed"]) == (2, 1, 0)
    assert step["seeds"][1] == grid.CHANCE  # a diverged seed counts at chance, whatever it measured
    assert step["val_acc"] == pytest.approx((0.701 + 0.1) / 2)
    constant = table[(table["arm"] == "constant") & (table["rate"] == 0.3)].iloc[0]
    assert (constant["collapsed"], constant["diverged"]) == (1, 0)
    assert table.loc[(table["arm"] == "constant") & (table["rate"] == 0.03), "val_acc"].item() == pytest.approx(0.88)


def test_choose_only_complete_arms_best_rate_ties_lower(study):
    table = grid.grid_table(grid.load_grid(study / "tuning"))
    chosen = grid.study_choice(table)
    picks = dict(zip(chosen["arm"], chosen["rate"]))
    assert "cosine+adam" not in picks  # three of six rates
    assert picks == {"constant": 0.03, "step": 0.03, "cosine": 0.03, "warmup": 0.03, "warmup_linear": 0.03,
                     "cyclic": 0.03, "plateau": 0.03, "constant+adam": 0.001}
    tie = table[table["arm"] == "constant"].copy()
    tie.loc[tie["rate"] == 0.1, "val_acc"] = 0.88  # equal to 0.03's: the lower rate wins
    assert grid.choose(tie, {"constant": 6}, 2)["rate"].item() == 0.03
    assert grid.choose(tie, {"constant": 7}, 2).empty  # a rate short
    assert grid.choose(tie, {"constant": 6}, 3).empty  # a seed short


def test_band_on_grid_and_interpolated(study):
    table = grid.grid_table(grid.load_grid(study / "tuning"))
    band = grid.bands(table, ["constant", "constant+adam"]).set_index("arm")
    c = band.loc["constant"]
    # 0.875 (0.01), 0.88 (0.03), 0.872 (0.1) are within 1 point of 0.88; 0.85 and 0.45 are not
    assert (c["low"], c["high"]) == (0.01, 0.1)
    assert c["decades"] == pytest.approx(1.0)
    left = math.log10(0.003) + (0.87 - 0.85) / (0.875 - 0.85) * (-2 - math.log10(0.003))
    right = math.log10(0.3) + (0.87 - 0.45) / (0.872 - 0.45) * (-1 - math.log10(0.3))
    assert c["interp_decades"] == pytest.approx(right - left)
    assert not c["censored_low"] and not c["censored_high"]
    a = band.loc["constant+adam"]
    assert (a["low"], a["high"]) == (0.0003, 0.01) and a["decades"] == pytest.approx(math.log10(0.01 / 0.0003))


def test_paired_sd_uses_the_seed_pairing(study):
    table = grid.grid_table(grid.load_grid(study / "tuning"))
    sd = grid.paired_sd(table, grid.ARM_ORDER)
    # every seed 0 is +0.001 and every seed 1 -0.001 at every point: the paired differences do
    # not vary between seeds (SD 0), while each point's own seeds differ by 0.002
    assert sd["sd_diff"] == pytest.approx(0.0, abs=1e-12)
    assert sd["sd_unpaired"] == pytest.approx(math.sqrt(2 * 0.002 ** 2 / 2))
    assert sd["arms"] == 9 and sd["pairs"] == 36


def test_claim_verdicts(study, built):
    from harness.studies import report_claims as report

    index = built
    found = {c.number: c for c in report.claims(*_inputs(study))}
    # 1: the challenger (warmup_linear, best on validation) is 1.3-1.8 points above step and constant
    assert "warmup_linear" in found["1"].question and found["1"].verdict == report.CONTRADICTED
    assert found["2a"].verdict == report.UNDECIDED  # onecycle, cyclic, ... have no final runs
    assert found["3a"].verdict == report.CONTRADICTED  # warmup = cosine: equivalent where the claim says better
    assert found["3b"].verdict == report.SUPPORTED  # warmup_linear 0.8 points above cosine
    assert found["4a"].verdict == report.UNDECIDED and "no short-budget runs" in found["4a"].evidence[0]
    assert found["4a"].family.endswith("at 5 and 10 epochs (in the study's one Holm family)")
    assert found["5"].verdict == report.CONTRADICTED  # plateau a point below constant
    assert found["6a"].verdict == report.SUPPORTED  # Adam's band 1.52 decades, SGD's 1.0 (each seed alike)
    assert found["6b"].verdict == report.UNDECIDED  # cosine+adam's grid is not finished
    md = (built.parent / "report.md").read_text()
    assert "| 3b | **Warmup + linear decay**" in md and "warmup_linear − cosine +0.80 pp" in md
    assert "pooled over PyTorch, TensorFlow and MXNet" in md  # warmup − cosine, paired by (framework, seed)
    assert "PyTorch constant+adam 0/10" in md  # the running run is not finished
    assert index.read_text().count("data:image/png;base64,") == 2


def _inputs(study):
    table = grid.grid_table(grid.load_grid(study / "tuning"))
    chosen = grid.study_choice(table)
    final = grid.read_runs(study / "final")
    return grid.last_rows(final[final["arm"].notna()]), table, chosen, grid.bands(table, list(chosen["arm"]))


def test_headline_names_a_failing_best(study):
    from harness.studies import report_sections as report

    last, *_ = _inputs(study)
    top = last[(last["arm"] == "warmup_linear") & (last["seed"] == 0)].index
    last.loc[top, ["failed"]] = True
    text = report.headline(last, [])
    assert text.startswith("In PyTorch with SGD (momentum 0.9), warmup_linear has the highest mean final test "
                           "accuracy")
    assert "but 1 of its 10 seeds diverged, never learned or collapsed" in text
    import pandas as pd

    adam = last[last["arm"] == "cosine"].assign(arm="cosine+adam", test=0.99)  # above every SGD arm
    text = report.headline(pd.concat([last, adam]), [])
    sgd_part, adam_part = text.split(". Of the guides' claims")[0].split(". With Adam, ")
    # never across optimizers
    assert sgd_part.startswith("In PyTorch with SGD (momentum 0.9), warmup_linear has the highest")
    torch_seeds = int((adam["framework"] == "torch").sum())
    assert adam_part == f"cosine+adam has the highest mean final test accuracy, 99.00% over {torch_seeds} seeds"


def test_report_deterministic_and_on_an_empty_final(study, built, tmp_path):
    from harness.studies import report

    again = report.build(study, tmp_path / "b")
    for name in ("index.html", "report.md", "grid.png", "curves.png"):
        assert (built.parent / name).read_bytes() == (again.parent / name).read_bytes(), name
    only_grid = tmp_path / "g"
    shutil.copytree(study / "tuning", only_grid / "tuning")
    md = report.build(only_grid).parent.joinpath("report.md").read_text()
    assert md.splitlines()[2].startswith("No final run has finished yet")


def test_cli_refuses_a_folder_without_a_study(tmp_path):
    import sys

    done = subprocess.run([sys.executable, "-m", "harness.studies.report", str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert "has neither tuning/ nor final/" in done.stderr and not (tmp_path / "_report").exists()


def test_the_plan_phase_reports_each_sweep_and_survives_a_bad_one(tmp_path, capsys):
    from harness.studies.sweeps import run_sweep as _harness

    sweep = ["-m", "scheduler=constant", "seed=0,1", "epochs=2", f"results_dir={tmp_path}"]
    assert _harness(sweep, dry_run=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("$ python -m harness plan -m scheduler=constant")
    assert out.rstrip().endswith("harness: plan: 2 jobs, 2 runs: 2 new; nothing was trained")
    assert _harness([*sweep[:3], "epochs=0", sweep[4]], dry_run=True) == 2  # its error, and the driver goes on
    assert "epochs=0 must be at least 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # a plan writes nothing


def test_a_finished_sweep_starts_no_process(tmp_path, capsys, monkeypatch):
    from harness.studies import sweeps as guideline
    from tests.synthetic_results import write_run

    sweep = ["-m", "scheduler=constant", "seed=0,1", "epochs=2", f"results_dir={tmp_path}"]
    started = []
    monkeypatch.setattr(guideline.subprocess, "run", lambda command: started.append(command) or
                        subprocess.CompletedProcess(command, 0))
    assert guideline.run_sweep(sweep, dry_run=False) == 0 and len(started) == 1  # nothing finished: its process
    from harness.identity import folder_of
    from harness.preflight import preflight

    folders = [folder_of(cfg) for cfg in preflight(sweep)]
    for folder in folders:  # each run's folder, its rows finished
        write_run(folder.parent, "x", "y", "z", 0, [0.5, 0.8], "complete")
        (folder.parent / "x-y-z-s0").rename(folder)
    capsys.readouterr()
    assert guideline.run_sweep(sweep, dry_run=False) == 0 and len(started) == 1  # none started
    assert capsys.readouterr().out.splitlines()[-1] == "harness: sweep done: 2 runs, every one finished before: skipped"
    assert guideline.run_sweep([*sweep, "rerun=true"], dry_run=False) == 0 and len(started) == 2  # rerun: trains again


def test_the_finished_checks_run_two_at_a_time_and_agree_with_one_at_a_time(tmp_path):
    from harness.identity import folder_of
    from harness.preflight import preflight
    from harness.studies import sweeps as guideline
    from tests.synthetic_results import write_run

    done = ["-m", "scheduler=constant", "seed=0,1", "epochs=2", f"results_dir={tmp_path}"]
    for folder in {folder_of(cfg) for cfg in preflight(done)}:
        write_run(folder.parent, "x", "y", "z", 0, [0.5, 0.8], "complete")
        (folder.parent / "x-y-z-s0").rename(folder)
    sweeps = [done, [*done[:2], "seed=2", *done[3:]], done]  # finished, not started, finished
    assert guideline.finished_counts(sweeps, jobs=2) == guideline.finished_counts(sweeps, jobs=1) == [2, 0, 2]


def test_load_grid_of_a_missing_folder_is_empty(tmp_path):
    frame = grid.load_grid(tmp_path / "nothing")
    assert frame.empty and {"arm", "rate", "val_acc"} <= set(frame.columns)
    assert grid.grid_table(frame).empty
    assert grid.study_choice(grid.grid_table(frame)).empty


def test_frameworks_that_disagree_are_flagged():
    import pandas as pd

    from harness.studies import report_claims as report

    rows = []
    for f, sign in (("torch", 1), ("tf", -1)):
        for s in range(4):
            for arm, acc in (("warmup", 0.90 + sign * 0.01 + 0.0005 * s), ("cosine", 0.90)):
                rows.append({"arm": arm, "framework": f, "seed": s, "epochs": 30, "finished": True, "test": acc})
    last = pd.DataFrame(rows)
    (t,) = report.run_family(last, [report.Test("warmup", "cosine", "better")])
    assert t.per_framework == pytest.approx({"torch": 0.01075, "tf": -0.00925})
    assert t.disagree_p < 1e-6 and "⚠ the frameworks disagree" in t.text()
    assert t.verdict == report.UNDECIDED  # the pooled mean is 0.1 points: its interval straddles ±0.3


def test_short_budget_runs_decide_claim_4(study, tmp_path):
    from harness.studies import report_claims as report

    short = tmp_path / "short"
    shutil.copytree(study, short)
    for k, (arm, level) in enumerate({"onecycle": 0.85, "constant": 0.83, "step": 0.835, "cosine": 0.838}.items()):
        for s in range(10):
            acc = level + 0.002 * ((s * 7) % 5) + 0.0003 * (1 + k) * (-1) ** s
            _write(short / "final", arm, "torch", s, [acc], SGD_RATES[3], planned=5)
    found = {c.number: c for c in report.claims(*_inputs(short))}
    assert found["4a"].verdict == report.SUPPORTED  # 1.2-2 points above each at 5 epochs
    assert any(line.startswith("5 epochs: ✓ onecycle − cosine +1.20 pp") for line in found["4a"].evidence)
    assert found["4b"].verdict == report.UNDECIDED  # cyclic has no short-budget runs
    assert found["4a"].family == "onecycle − constant, step, cosine at 5 epochs (in the study's one Holm family)"
    from harness.studies.report_sections import ranking

    last, _, chosen, _ = _inputs(short)
    at5 = ranking(last, "torch", chosen, 5)  # the short budget's own table: its arms, best first
    assert [(r["rank"], r["arm"], r["runs"]) for r in at5] == [
        ("1", "onecycle", "10 of 10"), ("2", "cosine", "10 of 10"), ("3", "step", "10 of 10"),
        ("4", "constant", "10 of 10"), ("—", "cyclic", "0 of 10")]
    assert at5[0]["success"] == "10/10 [69–100%]"
    assert not any("never learned" in line for line in found["4a"].evidence)
    inputs = list(_inputs(short))
    dead = inputs[0].index[(inputs[0]["arm"] == "constant") & (inputs[0]["epochs"] == 5) & (inputs[0]["seed"] == 3)]
    inputs[0].loc[dead, "failed"] = True  # one dead seed at 5 epochs: the claim says so beside its interval
    evidence = {c.number: c for c in report.claims(*inputs)}["4a"].evidence
    assert f"5 epochs: {report.FAILED_LINE}: constant 1 of 10" \
        in evidence
    assert not any(line.startswith("seeds that diverged") for line in evidence)  # no 30-epoch seed failed
    long = inputs[0].index[(inputs[0]["arm"] == "step") & (inputs[0]["epochs"] == 30) & (inputs[0]["seed"] == 2)
                                & (inputs[0]["framework"] == "torch")]
    inputs[0].loc[long, "failed"] = True  # a 30-epoch seed: every claim that compares step names it
    found = {c.number: c for c in report.claims(*inputs)}
    for number in ("1", "2a", "5"):
        assert any(line.startswith(f"{report.FAILED_LINE}: ")
                   and "step 1 of " in line for line in found[number].evidence), number
    assert not any(line.startswith("seeds that diverged") for line in found["3a"].evidence)  # no step in it
    # the 30-epoch ranking is untouched by the 5-epoch runs
    assert report.final_values(last, "constant") == report.final_values(_inputs(study)[0], "constant")


def test_the_final_phase_runs_three_seeds_of_everything_then_the_short_budgets_then_the_rest():
    from harness.studies import guideline
    from harness.studies.arms import ARMS

    sweeps = guideline.final_sweeps({arm.label: 0.03 for arm in ARMS})

    def seeds(sweep):
        return len(next(a for a in sweep if a.startswith("seed=")).split(","))

    budget = [next((a for a in s if a.startswith("epochs=")), "epochs=30") for s in sweeps]
    assert [seeds(s) for s in sweeps] == [3] * 25 + [10] * 10 + [7] * 15
    assert budget == ["epochs=30"] * 25 + ["epochs=5"] * 5 + ["epochs=10"] * 5 + ["epochs=30"] * 15
    # the README's 150 PyTorch + 30 TensorFlow and MXNet + 100 short-budget runs
    assert sum(seeds(s) for s in sweeps) == 280
    assert sum("framework=torch" in s for s in sweeps[:25]) == 15  # then 5 TensorFlow and 5 MXNet


def test_a_decided_claim_names_the_comparisons_it_rests_on():
    from harness.studies import report_claims as report

    from types import SimpleNamespace

    from harness.studies import decide

    tests = [report.Test("step", "onecycle", "better"), report.Test("step", "constant", "better"),
             report.Test("onecycle", "cosine", "better", 5)]
    for t, verdict in zip(tests, [decide.CONTRADICTED, decide.UNDECIDED, decide.SUPPORTED]):
        t.result = SimpleNamespace(verdict=verdict)
    assert [t.verdict for t in tests] == [report.CONTRADICTED, report.UNDECIDED, report.SUPPORTED]
    contradicted = report.Claim("2a", "c", "q", "f", report.CONTRADICTED, [], tests)
    assert report.decided_by(contradicted) == ["contradicted by step − onecycle"]
    supported = report.Claim("4a", "c", "q", "f", report.SUPPORTED, [], tests)
    assert report.decided_by(supported) == ["supported by onecycle − cosine at 5 epochs"]
    assert report.decided_by(report.Claim("1", "c", "q", "f", report.UNDECIDED, [], tests)) == []


def test_every_comparison_reads_against_the_smallest_effect():
    import numpy as np

    from harness.report.stats import paired_comparison

    base = np.array([0.90, 0.91, 0.89, 0.905, 0.895, 0.90])
    wobble = np.array([0.0005, -0.0005, 0.0004, -0.0004, 0.0002, -0.0002])
    assert paired_comparison(base + 0.01 + wobble, base).reading().startswith("better by at least 0.9")
    assert paired_comparison(base - 0.01 + wobble, base).reading().startswith("worse by at least 0.9")
    assert paired_comparison(base + wobble, base).reading() == "equivalent within ±0.30 pp"
    assert paired_comparison(base, base).reading() == "identical on all 6 seeds"
    noisy = paired_comparison(base + 10 * wobble, base).reading()
    assert noisy.startswith("inconclusive at 6 seeds (a verdict needs ≥ ") and noisy.endswith(" pp for 80 % power)")
