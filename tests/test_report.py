"""The report on a small synthetic results table with known numbers (tests/synthetic_results.py).

Fast and framework-free: the parquet files are written with harness.results.write_epochs, so the
schema is the real one; the report runs in a subprocess that must import no ML framework.
"""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness.report import findings, load, metrics, panels, plotting, render, run_table, sections, summary, tables
from harness.report.estimates import accuracy_ci, mean_ci, paired_difference, prediction_half_width, t975
from harness.report.stats import ranks, spearman
from harness.report.style import PALETTE, assign_styles

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic_results  # noqa: E402
from tests.conftest import main_in_fresh_python  # noqa: E402

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

# Hand-computed: values 0.89, 0.90, 0.91 have mean 0.90 and s = 0.01, so the 95% half-width is
# t(0.975, 2) * 0.01 / sqrt(3) = 4.302653 * 0.01 / 1.7320508 = 0.0248414.
CONSTANT_HALF = 0.0248414


# ------------------------------------------------------------------------------ statistics


def test_t_quantiles_match_the_tables():
    assert t975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t975(10) == pytest.approx(2.2281, abs=1e-4)
    assert t975(30) == pytest.approx(2.0423, abs=1e-4)
    # scipy.stats.t.ppf at large df (the hand-written table and Cornish-Fisher expansion are gone)
    assert t975(31) == pytest.approx(2.039513, abs=2e-5)
    assert t975(60) == pytest.approx(2.000298, abs=2e-5)
    assert t975(120) == pytest.approx(1.979930, abs=2e-5)
    assert t975(10**6) == pytest.approx(1.959966, abs=2e-5)
    with pytest.raises(ValueError, match="df=0"):
        t975(0)


def test_mean_ci_of_a_known_sample():
    e = mean_ci([0.89, 0.90, 0.91])
    assert e.mean == pytest.approx(0.90)
    assert e.half == pytest.approx(CONSTANT_HALF, abs=1e-7)
    assert (e.low, e.high) == pytest.approx((0.90 - CONSTANT_HALF, 0.90 + CONSTANT_HALF), abs=1e-7)
    assert e.n == 3


def test_mean_ci_single_seed_and_non_finite_values():
    one = mean_ci([0.88])
    assert (one.mean, one.half, one.n) == (0.88, None, 1)
    assert one.excludes_zero() is None
    assert mean_ci([float("nan"), 0.5, float("inf")]).n == 1
    assert mean_ci([]) is None


def test_paired_difference_uses_shared_seeds_only():
    a = {0: 0.905, 1: 0.915, 2: 0.92, 7: 0.5}
    b = {0: 0.89, 1: 0.90, 2: 0.91}
    d = paired_difference(a, b)
    # differences 0.015, 0.015, 0.010: mean 0.0133333, s = 0.0028868, half = 4.302653 * s / sqrt(3)
    assert d.n == 3
    assert d.mean == pytest.approx(0.0133333, abs=1e-7)
    assert d.half == pytest.approx(0.0071711, abs=1e-6)
    assert d.excludes_zero() is True
    assert paired_difference({0: 1.0}, {1: 1.0}) is None


def test_spearman_with_and_without_ties():
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert list(ranks([0.9, 0.8, 0.9])) == [2.5, 1.0, 2.5]
    # with ties: Pearson correlation of the average ranks (1.5, 1.5, 3) and (1, 2, 3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254, abs=1e-7)
    assert spearman([1, 2], [2, 1]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_prediction_interval_is_wider_than_the_mean_interval():
    assert prediction_half_width(0.01, 3) == pytest.approx(4.302653 * 0.01 * math.sqrt(4 / 3), abs=1e-7)
    with pytest.raises(ValueError):
        prediction_half_width(0.01, 1)


# ---------------------------------------------------------------------------- the summary


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    return synthetic_results.build(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def summaries(results_dir):
    df = load.load_results(results_dir)
    runs = run_table.summarise_runs(df)
    pooled = summary.pooled_seed_sd(runs)
    published = load.load_published()
    return {p: summary.summarise_protocol(df, runs, p, published, pooled) for p in ("clean", "d2l")}


def test_published_reference_is_data_with_its_source():
    text = load.REFERENCE_CSV.read_text()
    assert "d2l-ai/d2l-en" in text and "chapter_optimization/lr-scheduler.md" in text and "1.0.3" in text
    pub = load.load_published()
    assert len(pub) == 15 and set(pub.framework) == {"torch", "tf", "mxnet"}
    assert "factor" not in set(pub.scheduler)
    row = pub[(pub.framework == "mxnet") & (pub.scheduler == "sqrt")].iloc[0]
    assert (row.train_loss, row.train_acc, row.test_acc) == (0.523, 0.810, 0.815)


def test_cell_numbers(summaries):
    clean = summaries["clean"]
    assert clean.frameworks == ["torch", "tf"]
    assert clean.schedules == ["constant", "sqrt", "cosine", "warmup"]
    c = clean.cell("torch", "constant")
    assert c.final.mean == pytest.approx(0.90) and c.final.half == pytest.approx(CONSTANT_HALF, abs=1e-7)
    assert c.best.mean == pytest.approx(0.90)
    assert c.gap.mean == pytest.approx(0.03)
    assert c.seconds_per_epoch == pytest.approx(1.25)  # the 5 s first epoch is excluded
    # 5 epochs on 2,560 images is not the chapter's budget: its published 87.7% does not apply
    assert c.published is None and c.delta_published is None and not c.budget_matches
    assert c.budget_differs[:3] == ["epochs 5", "train_size 2,560", "test_size 1,000"]
    assert c.epochs_to_target == [4, 4, 3]
    cos = clean.cell("torch", "cosine").vs_constant
    assert cos.mean == pytest.approx(0.0133333, abs=1e-7) and cos.half == pytest.approx(0.0071711, abs=1e-6)
    warm = clean.cell("torch", "warmup")
    assert warm.vs_constant.excludes_zero() is False  # +1.67 pp but inside the noise
    assert (warm.n_complete, warm.n_diverged, warm.n_running) == (3, 1, 0)
    assert warm.final.n == 3  # the diverged run is counted, not averaged
    assert clean.cell("tf", "constant").epochs_to_target == [None, 5, 4]
    tf_cos = clean.cell("tf", "cosine")
    assert (tf_cos.n_complete, tf_cos.n_running) == (3, 1) and tf_cos.final.mean == pytest.approx(0.90)
    assert clean.cell("tf", "warmup").missing and clean.cell("tf", "warmup").state() == "missing"


def test_rank_correlation(summaries):
    # common schedules constant, sqrt, cosine: torch means 0.900, 0.8867, 0.9133 (ranks 2, 1, 3),
    # tf means 0.8833, 0.895, 0.900 (ranks 1, 2, 3): rho = 1 - 6 * 2 / (3 * 8) = 0.5
    rho, p, n = summaries["clean"].rank_correlations[("torch", "tf")]
    assert n == 3 and rho == pytest.approx(0.5)
    # the exact permutation p-value over the 3! orderings: |rho| >= 0.5 in all six, so p = 1 (no evidence)
    assert p == pytest.approx(1.0)
    assert "no evidence of agreement" in " ".join(findings.findings(summaries["clean"]))


def test_reproduction_of_published_figures(summaries):
    d2l = summaries["d2l"]
    const, cos = d2l.cell("torch", "constant"), d2l.cell("torch", "cosine")
    assert const.final.n == 1 and const.final.half is None
    # n=1: the seed SD is pooled over the torch clean cells (4 cells, 2 dof each: 8 dof); the
    # published figure is one run and our mean is of n=1, so the band is t(8) * sd * sqrt(1 + 1/1)
    sds = [np.std(v, ddof=1) for (p, f, _), v in synthetic_results.FINAL.items() if p == "clean" and f == "torch"]
    band = scipy_stats.t.ppf(0.975, 8) * math.sqrt(np.mean(np.square(sds))) * math.sqrt(2)
    assert const.reproduce_band == pytest.approx(band, abs=1e-9)
    assert const.reproduces is True and const.delta_published == pytest.approx(0.0, abs=1e-12)
    assert cos.reproduces is False and cos.delta_published == pytest.approx(-0.104)


def test_findings_and_headline(summaries):
    text = "\n".join(findings.findings(summaries["clean"]))
    # the winner's diverged seed is named in its sentence, not only under failures
    assert ("PyTorch: **warmup** has the best mean, 91.67% final test accuracy (n=3), but 1 of 4 runs failed "
            "(diverged: seed 3) (the mean is over its 3 seeds that learned)") in text
    assert "TensorFlow: **cosine** has the best mean, 90.00%" in text
    assert "ρ = 0.50, exact p = 1.000, n = 3: no evidence of agreement" in text
    assert "beyond the noise" not in text and "inside the noise" not in text
    assert "PyTorch warmup: 1 of 4 runs failed (diverged: seed 3); success rate 75% (exact 95% interval 19%–99%)" in text
    assert "TensorFlow cosine: 1 of 4 runs incomplete" in text
    assert "TensorFlow warmup has no runs" in text
    d2l = "\n".join(findings.findings(summaries["d2l"]))
    assert "reproduced within our seed spread: 1 of 2 (PyTorch constant)" in d2l
    assert "PyTorch cosine (80.0% vs 90.4%, −10.4 pp" in d2l
    head = findings.headline([summaries["clean"], summaries["d2l"]])
    # PyTorch's best (warmup) never ran in TensorFlow: a missing cell, not a disagreement; the
    # frameworks are compared on the schedules both ran, where cosine wins in each
    assert head.startswith("Cosine gives the best final test accuracy in every framework (clean protocol: "
                           "PyTorch 91.3%, TensorFlow 90.0%), among the 3 schedules that learned in every framework")
    assert head.endswith("PyTorch's best overall, warmup (91.7%), has no TensorFlow run: a missing cell, "
                         "not a disagreement.")
    assert "depends on the framework" not in head


def test_table_shows_states_and_intervals(summaries):
    rows = {(r["framework"], r["scheduler"]): r for r in tables.table_rows(summaries["clean"])}
    # logit-scale t interval: logit(0.89, 0.90, 0.91) -> mean ± t(0.975, 2)·s/√3 -> back
    z = np.log(np.array([0.89, 0.90, 0.91]) / (1 - np.array([0.89, 0.90, 0.91])))
    half = t975(2) * z.std(ddof=1) / math.sqrt(3)
    lo, hi = (1 / (1 + np.exp(-(z.mean() + k * half))) for k in (-1, 1))
    assert rows[("PyTorch", "constant")]["final"] == f"90.00% [{100 * lo:.1f}–{100 * hi:.1f}]"
    assert rows[("PyTorch", "constant")]["epochs88"] == "—"  # not the chapter's budget
    assert rows[("PyTorch", "constant")]["params"] == "lr 0.3"
    assert rows[("PyTorch", "constant")]["vs_constant"] == "baseline"
    assert rows[("PyTorch", "cosine")]["vs_constant"] == "+1.33 pp [+0.62, +2.05]"
    assert metrics.median_range_text(summaries["clean"].cell("tf", "constant").epochs_to_target) == "4.5 (4–5), 1 of 3 never"
    assert rows[("PyTorch", "warmup")]["runs"] == "3 + 1 diverged"
    assert rows[("TensorFlow", "cosine")]["runs"] == "3 + 1 incomplete"
    assert rows[("TensorFlow", "warmup")]["runs"] == "missing"
    assert rows[("PyTorch", "constant")]["time"] == "1.25"
    d2l = {(r["framework"], r["scheduler"]): r for r in tables.table_rows(summaries["d2l"])}
    assert d2l[("PyTorch", "constant")]["final"] == "87.70% (n=1)"
    assert d2l[("PyTorch", "constant")]["delta"].endswith("✓")
    assert d2l[("PyTorch", "cosine")]["delta"] == "−10.4 pp ✗"


def test_epochs_to_target_never():
    assert metrics.median_range_text([None, None]) == "never"
    assert metrics.median_range_text([7]) == "7"


# ------------------------------------------------------------------------- the documents


@pytest.fixture(scope="module")
def built(results_dir, tmp_path_factory):
    """Run the report as a user would, in a subprocess, and say which frameworks it imported."""
    out = tmp_path_factory.mktemp("report")
    proc, rc, frameworks = main_in_fresh_python(["report", str(results_dir), "--out", str(out)])
    return out, {"rc": rc, "frameworks": frameworks}, proc


def test_report_imports_no_framework(built):
    _, result, proc = built
    assert result == {"rc": 0, "frameworks": []}
    assert "wrote" in proc.stdout and "index.html" in proc.stdout


def test_html_is_self_contained(built, summaries):
    out, _, _ = built
    page = (out / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    images = re.findall(r"<img\b[^>]*>", page)
    # the figures the section lists give these summaries (three per protocol here: lr, curves, final)
    assert len(images) == len(sections.figure_files(list(summaries.values()))) == 6
    for tag in images:
        src = re.search(r'src="([^"]+)"', tag).group(1)
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
        assert re.search(r'alt="[^"]+"', tag)
    # headline first, then the protocols' sections
    assert page.index('class="headline"') < page.index("<h2>")
    assert "Clean protocol" in page and "d2l protocol" in page


def test_markdown_references_existing_pngs(built, summaries):
    out, _, _ = built
    md = (out / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert refs == sections.figure_files(list(summaries.values()))  # in page order
    assert sorted(p.name for p in out.glob("*.png")) == sorted(refs)
    for ref in refs:
        assert (out / ref).read_bytes().startswith(b"\x89PNG")
    assert md.startswith("# ") and "| framework | schedule |" in md and "---:|" in md


def test_default_output_is_skipped_by_parquet_readers(results_dir, tmp_path):
    import pandas as pd

    work = tmp_path / "results"
    shutil.copytree(results_dir, work)
    assert render.main([str(work)]) == 0
    assert (work / load.DEFAULT_OUT / "index.html").exists()
    assert len(pd.read_parquet(work)) == len(load.load_results(work))  # the PNGs do not break readers


@pytest.mark.parametrize("case", ["missing", "empty", "only-config"])
def test_no_runs_is_one_line_and_exit_2(tmp_path, case):
    target = tmp_path / "results"
    if case != "missing":
        target.mkdir()
    if case == "only-config":
        (target / "run").mkdir()
        (target / "run" / "_config.yaml").write_text("seed: 0\n")
    proc = subprocess.run([sys.executable, "-m", "harness", "report", str(target)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness report: error:") and str(target) in lines[0]


def test_running_only_and_single_seed(tmp_path):
    """Nothing complete yet: the report still renders, says so, and shows n=1 where there is one seed."""
    synthetic_results.write_run(tmp_path, "clean", "mxnet", "cosine", 0, [0.7, 0.8], "running")
    synthetic_results.write_run(tmp_path, "clean", "mxnet", "constant", 0, [0.8, 0.9, 0.9, 0.9, 0.9], "complete")
    index = render.build_report(tmp_path, tmp_path / "out")
    page = index.read_text()
    assert "n=1" in page and "incomplete" in page and "MXNet" in page


def test_diverged_only_cell_does_not_crash(tmp_path):
    rows_dir = tmp_path / "r"
    synthetic_results.write_run(rows_dir, "clean", "torch", "factor", 0, [0.1, 0.1], "diverged")
    synthetic_results.write_run(rows_dir, "clean", "torch", "constant", 0, [0.8, 0.85, 0.87, 0.88, 0.89], "complete")
    render.build_report(rows_dir, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| PyTorch | factor | lr 0.3 | 0 + 1 diverged | no seed learned (diverged: seed 0) |" in md


def test_runs_that_died_inside_a_learning_cell_are_named(tmp_path):
    """Seeds stuck at chance among learning seeds: out of the mean, counted beside it (one rule
    for the tables, the figures and the sentences: harness.report.rules)."""
    for seed, final in enumerate([0.1, 0.88, 0.1]):
        synthetic_results.write_run(tmp_path, "clean", "tf", "multifactor", seed, [0.5, final], "complete")
    render.build_report(tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    # 0.5 then 0.1: they learned and collapsed (the verdict's word, the same in every section)
    assert "TensorFlow multifactor: 2 of 3 runs failed (collapsed: seeds 0, 2); success rate 33%" in md
    assert "tf multifactor seed 0: **collapsed**" in md.replace("TensorFlow", "tf")
    assert "▼: runs that failed by their verdict (never learned or collapsed), one thin line each, kept out" in md
    assert "| 88.00% (n=1) (1 of 3 seeds learned; 2 failed) |" in md  # not 36.00%: seeds 10.0, 10.0, 88.0%
    assert "36.00%" not in md and "36.0%" not in md
    df = load.load_results(tmp_path)
    runs = run_table.summarise_runs(df)
    s = summary.summarise_protocol(df, runs, "clean", load.load_published(), summary.pooled_seed_sd(runs))
    (cell,) = panels.final_cells(s)
    assert (cell["n_failed"], cell["n_seeds"], cell["seeds"], cell["mean"]) == (2, 3, [0.88], 0.88)
    assert not cell["off_scale"]


# ---------------------------------------------------------------------------------- browser


def _chromium(url: str, shot: Path, size: str = "1400,3000") -> str:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size={size}",
             "--enable-logging=stderr", "--v=0", url],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=profile),
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return proc.stderr


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (Debian package chromium; `make setup` installs it as root)")
def test_page_renders_in_headless_chromium_without_console_errors(built, tmp_path):
    # the check itself must catch a page that logs (otherwise "no errors" proves nothing)
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    assert "Uncaught Error: boom" in _chromium(bad.as_uri(), tmp_path / "bad.png", "400,300")

    out, _, _ = built
    shot = tmp_path / "page.png"
    log = _chromium((out / "index.html").as_uri(), shot)
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000
    console = [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []


def test_learning_rate_panels_merge_only_identical_sequences(results_dir, summaries):
    df = load.load_results(results_dir)
    seqs, spe, labels = panels.lr_sequences(df, summaries["clean"])
    # torch and tf ran the same rates (tf has no warmup run: merged where both have one)
    assert list(labels.values()) == ["the same in PyTorch and TensorFlow"]
    merged = next(iter(seqs.values()))
    assert sorted(merged) == ["constant", "cosine", "sqrt", "warmup"]
    assert merged["warmup"].size == synthetic_results.EPOCHS * synthetic_results.STEPS_PER_EPOCH
    assert merged["warmup"][:3] == pytest.approx([0.0, 0.03, 0.06])

    # a framework whose cosine differs gets its own panel
    other = results_dir.parent / "lr-differs"
    shutil.copytree(results_dir, other)
    rows = synthetic_results._rows("clean", "tf", "cosine", 0, [0.9] * synthetic_results.EPOCHS, "complete")
    for row in rows:
        row["step_lrs"] = [0.05] * synthetic_results.STEPS_PER_EPOCH
    from harness.results import write_epochs

    write_epochs(other / "clean-tf-cosine-s0", rows)
    df2 = load.load_results(other)
    runs = run_table.summarise_runs(df2)
    s2 = summary.summarise_protocol(df2, runs, "clean", load.load_published(), {})
    _, _, labels2 = panels.lr_sequences(df2, s2)
    assert labels2 == {"torch": "PyTorch", "tf": "TensorFlow"}


def test_files_from_before_the_protocol_column_count_as_clean(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = synthetic_results._rows("clean", "torch", "constant", 0, [0.8, 0.9], "complete")
    for row in rows:
        del row["protocol"]
    (tmp_path / "old").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "old" / "epochs.parquet")
    df = load.load_results(tmp_path)
    assert set(df.protocol) == {"clean"} and len(df) == 2


def test_unreadable_parquet_is_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "epochs.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(load.ReportError, match="cannot read the runs"):
        load.load_results(tmp_path)


def test_a_run_in_two_folders_is_counted_once(tmp_path):
    """A user's run under results/ beside the same run in the committed study: one seed, not two."""
    synthetic_results.write_run(tmp_path / "study", "clean", "torch", "cosine", 0, [0.8, 0.85, 0.9], "complete")
    synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", 0, [0.8], "running")  # same run_id, less far
    df = load.load_results(tmp_path)
    assert len(df) == 3 and df["test_acc"].tolist() == [0.8, 0.85, 0.9]


# ------------------------------------------------------------ small or unusual results (issue 17)


def _summary(results_dir: Path, protocol: str = "clean"):
    df = load.load_results(results_dir)
    runs = run_table.summarise_runs(df)
    return summary.summarise_protocol(df, runs, protocol, load.load_published(), summary.pooled_seed_sd(runs))


def test_an_exact_tie_is_a_tie(tmp_path):
    for sched in ("constant", "cosine"):
        for seed in (0, 1):
            synthetic_results.write_run(tmp_path, "clean", "torch", sched, seed, [0.85], "complete")
    s = _summary(tmp_path)
    text = "\n".join(findings.findings(s))
    assert "PyTorch: tie: **constant** and **cosine** end at the same 85.00% final test accuracy." in text
    assert "ahead" not in text and "wins" not in text
    assert "no spread: cosine (identical on all 2 seeds)" in text and "beyond the noise" not in text
    head = findings.headline([s])
    assert "tie" in head and "gives the best" not in head
    cols, rows = tables.ranking_rows(s)
    assert [r["rank"] for r in rows] == ["=1", "=1"] and rows[0]["fw:torch"].startswith("=1 · ")


def test_one_schedule_below_chance_is_never_the_best(tmp_path):
    synthetic_results.write_run(tmp_path, "clean", "torch", "constant", 0, [0.083], "complete")
    s = _summary(tmp_path)
    # its only seed never learned (its verdict): out of every mean, so there is no mean to rank
    assert s.cell("torch", "constant").final is None and s.cell("torch", "constant").none_learned
    assert findings.headline([s]).startswith("No schedule learned (clean protocol): every finished seed failed")
    assert findings.findings(s)[0] == ("PyTorch: no schedule learned: every finished seed failed "
                                       "(constant: never learned: seed 0).")
    synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", 0, [0.5, 0.85], "complete")
    s = _summary(tmp_path)
    assert findings.headline([s]).startswith("Only one schedule ran") is False
    assert "**cosine** has the best mean" in findings.findings(s)[0]
    assert "the other (constant) did not learn" in findings.findings(s)[0]


@pytest.mark.parametrize("acc, n_test, chance", [
    # the cells the issue found labelled "(chance)" at ten classes: every one is far from 10%
    (0.199, 2000, False), (0.194, 2000, False), (0.174, 2000, False), (0.157, 2000, False), (0.149, 2000, False),
    (0.199, 10000, False), (0.149, 10000, False),
    # indistinguishable from 1/10: 10.0%, and 10.5% on 1,000 images (p = 0.59)
    (0.10, 10000, True), (0.10, 2000, True), (0.105, 1000, True),
    # 10.6% on 10,000 images is (just) distinguishable: p = 0.046
    (0.106, 10000, False),
])
def test_chance_is_a_binomial_test_on_the_test_set(acc, n_test, chance):
    from scipy.stats import binomtest

    from harness.report import rules

    assert rules.at_chance(acc, n_test) is chance
    assert rules.chance_p(acc, n_test) == pytest.approx(binomtest(round(acc * n_test), n_test, 0.1).pvalue)


def test_a_learning_cell_at_twenty_percent_is_not_labelled_chance(tmp_path):
    """19.90%: a seed at 24.6% whose verdict is converging and one at 15.2%: not chance on 1,000 images."""
    for seed, final in enumerate([0.246, 0.152]):
        synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", seed,
                                    [final - 0.03, final - 0.02, final - 0.01, final - 0.005, final], "complete")
    synthetic_results.write_run(tmp_path, "clean", "torch", "constant", 0, [0.5, 0.6, 0.7, 0.8, 0.85], "complete")
    s = _summary(tmp_path)
    cell = s.cell("torch", "cosine")
    assert cell.final.mean == pytest.approx(0.199) and not cell.at_chance
    cols, rows = tables.ranking_rows(s)
    assert [r["fw:torch"] for r in rows] == ["1 · 85.00%", "2 · 19.90%"]


def test_failed_seeds_are_out_of_every_mean(tmp_path):
    """The issue's cases, on their numbers: "19.40%: seeds 11.3, 27.5%" averaged a never-learned
    seed; "12.45%" averaged two collapsed seeds; "35.47%: seeds 10.0, 10.0, 86.4%" two of three
    failed seeds."""
    never = [0.105, 0.11, 0.112, 0.113, 0.113]  # never above 15%: never learned
    write = synthetic_results.write_run
    write(tmp_path, "clean", "torch", "cosine", 0, never, "complete")
    write(tmp_path, "clean", "torch", "cosine", 1, [0.2, 0.23, 0.25, 0.27, 0.275], "complete")
    for seed, final in enumerate([0.10, 0.149]):  # learned to 50%, fell back to chance: collapsed (mean 12.45%)
        write(tmp_path, "clean", "torch", "step", seed, [0.5, 0.4, 0.3, 0.2, final], "complete", train_gap=0.0)
    for seed, final in enumerate([0.1, 0.1, 0.864]):
        write(tmp_path, "clean", "tf", "multifactor", seed, [0.11, 0.105, 0.1, 0.1, final] if final < 0.2
              else [0.6, 0.7, 0.8, 0.85, final], "complete")
    write(tmp_path, "clean", "tf", "cosine", 0, [0.6, 0.7, 0.8, 0.85, 0.87], "complete")
    s = _summary(tmp_path)
    rows = {(r["framework"], r["scheduler"]): r for r in tables.table_rows(s)}
    assert rows[("PyTorch", "cosine")]["final"] == "27.50% (n=1) (1 of 2 seeds learned; 1 failed)"
    assert rows[("PyTorch", "step")]["final"] == "no seed learned (collapsed: seeds 0, 1)"
    assert rows[("TensorFlow", "multifactor")]["final"] == "86.40% (n=1) (1 of 3 seeds learned; 2 failed)"
    assert s.cell("tf", "multifactor").final_by_seed == {2: 0.864}
    cols, ranking = tables.ranking_rows(s)
    by = {r["scheduler"]: r for r in ranking}
    assert by["multifactor"]["fw:tf"] == "2 · 86.40% (1 of 3 seeds learned; 2 failed)"
    assert by["step"]["fw:torch"] == "no seed learned"
    text = "\n".join(findings.findings(s))
    assert "TensorFlow multifactor: 2 of 3 runs failed (never learned: seeds 0, 1)" in text
    for wrong in ("19.40", "12.45", "35.47", "(chance)"):
        assert wrong not in text + "\n".join(str(r) for r in rows.values()) + str(ranking)
    # the method text states the rule once, in the words the tables use
    notes = " ".join(render.method_notes(False))
    assert notes.count("kept out of every mean, interval, rank and paired difference") == 1
    assert "1 of 3 seeds learned; 2 failed" in notes


def test_accuracy_intervals_stay_inside_0_and_1():
    # n=2, far apart: the plain t interval is 31.3 ± 273 %; logit t stays inside, and says show the seeds
    plain = mean_ci([0.1, 0.526], bounds=(0, 1))
    assert plain.low < 0 and plain.high > 1 and plain.show_seeds
    e = accuracy_ci([0.1, 0.526], chance=0.2)
    assert 0 < e.low < e.mean < e.high < 1 and e.show_seeds and e.method == "logit t"
    # near 100%: the plain t interval would pass 100% (so the seeds are shown); the logit one does not
    near_one = accuracy_ci([0.995, 0.997, 0.998])
    assert mean_ci([0.995, 0.997, 0.998]).high > 1 and 0.98 < near_one.low < near_one.high < 1
    assert near_one.show_seeds
    assert accuracy_ci([0.5]).half is None


def test_budget_decides_where_published_figures_apply(summaries):
    d2l = summaries["d2l"]
    assert d2l.cell("torch", "constant").budget_matches and d2l.cell("torch", "constant").published == 0.877
    clean = summaries["clean"]
    assert not clean.has_published and clean.published_withheld
    assert [c[0] for c in tables.columns(clean)] == ["framework", "scheduler", "params", "runs", "final", "last5", "best",
                                                     "gap", "time", "vs_constant"]
    text = "\n".join(findings.findings(clean))
    assert "The chapter's published figures are not compared with: no run here had its budget" in text
    assert "epochs 5, train_size 2,560, test_size 1,000" in text


def test_variants_and_optimizers_are_never_pooled(tmp_path):
    """Same schedule name, other horizon; same schedule, other optimizer: separate rows, labelled."""
    import json

    for seed in (0, 1):
        for total, final in ((8, 0.90), (20, 0.88)):
            synthetic_results.write_new_style_run(tmp_path, synthetic_results._zoo_rows(
                "torch", "cosine", seed, final + 0.001 * seed, lambda e: 0.3, f"cosine(T={total}, final=0.01)",
                json.dumps({"kind": "cosine", "total_steps": total}), epochs=2))
        for opt in ("sgd", "adam"):
            synthetic_results.write_new_style_run(tmp_path, synthetic_results._zoo_rows(
                "torch", "constant", seed, 0.87 + 0.001 * seed, lambda e: 0.3, "constant", json.dumps({"kind": "constant"}),
                optimizer=opt, optimizer_params=json.dumps({"momentum": 0.0} if opt == "sgd" else {"beta1": 0.9}),
                epochs=2))
    s = _summary(tmp_path)
    assert s.schedules == ["constant · adam", "constant · sgd", "cosine(T=20, final=0.01)", "cosine(T=8, final=0.01)"]
    assert all(s.cell("torch", label).final.n == 2 for label in s.schedules)
    params = {r["scheduler"]: r["params"] for r in tables.table_rows(s)}
    # Values at their schema defaults say nothing (an older version did not write them): not shown.
    assert params["cosine(T=20, final=0.01)"] == "lr 0.3, T=20; sgd ⚠ horizon past the run's end"
    assert params["constant · adam"] == "lr 0.3; adam"
    assert s.cell("torch", "cosine(T=8, final=0.01)").baseline == "constant · sgd"
    assert s.cell("torch", "constant · adam").is_baseline


def test_old_runs_take_their_variant_from_config_yaml(tmp_path):
    for total in (5, 20):
        run = tmp_path / f"cos{total}"
        synthetic_results.write_run(run, "clean", "torch", "cosine", total, [0.8, 0.85], "complete")
        (next(run.iterdir()) / "_config.yaml").write_text(
            f"scheduler:\n  name: cosine\n  kind: cosine\n  unit: epoch\n  base_lr: 0.3\n  final_lr: 0.01\n"
            f"  total_steps: {total}\n  warmup_steps: null\noptimizer:\n  name: sgd\n  momentum: 0.0\n")
    df = load.load_results(tmp_path)
    # the runner's own label (identity.variant): the same text a newer run writes into its rows
    assert sorted(set(df.variant)) == ["cosine(lr=0.3, final=0.01, T=20)", "cosine(lr=0.3, final=0.01, T=5)"]
    # momentum 0.0 is the schema default: in the canonical form it says nothing, as a newer run's would
    assert set(df.optimizer_params) == {"{}"} and df.model_hash.isna().all()
    assert _summary(tmp_path).schedules == ["cosine(lr=0.3, final=0.01, T=20)", "cosine(lr=0.3, final=0.01, T=5)"]


def test_styles_are_unique_and_stable():
    names = list(synthetic_results.ZOO_SCHEDULES)
    series = [(n, n, None, 0) for n in names] + [("cosine · adam", "cosine", None, 1)]
    styles = assign_styles(series)
    assert len({st.colour for st in styles.values()}) == len(series)  # no colour twice while the palette lasts
    assert styles["constant"].colour == PALETTE[0] and styles["cosine"].colour == PALETTE[4]
    assert assign_styles(list(reversed(series))) == styles  # the order given does not matter for known names
    many = assign_styles([(f"s{i}", f"s{i}", None, 0) for i in range(30)])
    assert len({(st.colour, st.dash_name) for st in many.values()}) == 30


def test_sixteen_schedules_three_frameworks(tmp_path):
    s = _summary(synthetic_results.build_zoo(tmp_path))
    assert len(s.schedules) == 19 and s.frameworks == ["torch", "tf", "mxnet"]
    assert "step" in s.schedules and "constant · sgd" in s.schedules and "cosine(T=8, final=0.01) · adam" in s.schedules
    shown = panels.shown_series(s)
    assert shown == ["constant · sgd", "cosine(T=8, final=0.01) · adam", "cosine(T=8, final=0.01) · sgd", "warmup",
                     "onecycle"]
    assert [f for f, _ in panels.families(s)] == ["constant", "step-wise decay", "smooth decay", "cosine",
                                                    "warmup + decay", "cyclic"]
    assert tables.ranking_rows(s)[1][0]["scheduler"] == "onecycle"
    cyclic = s.cell("tf", "cyclic")
    # one seed never learned: out of the mean, counted beside it
    assert cyclic.final.n == 2 and not cyclic.final.show_seeds and 0.1 not in cyclic.final.values
    assert cyclic.learned_text() == " (2 of 3 seeds learned; 1 failed)"
    head = findings.headline([s])
    assert head.startswith("Onecycle gives the best final test accuracy in every framework")


def test_epoch_axis_of_a_one_epoch_run():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plotting.epoch_axis(ax, 1)
    assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)
    plt.close(fig)


def test_two_folders_one_report_same_bytes_twice(tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    synthetic_results.write_run(a, "clean", "torch", "constant", 0, [0.80], "complete")
    synthetic_results.write_run(b, "clean", "torch", "cosine", 0, [0.82], "complete")
    assert render.main([str(a), str(b), "--out", str(out)]) == 0
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    md = first["report.md"][0].decode()
    assert f"2 runs from {a} and {b}" in md and "| PyTorch | cosine |" in md and "generated" not in md
    assert render.main([str(a), str(b), "--out", str(out)]) == 0
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == first  # not even rewritten


def test_unknown_settings_are_not_other_settings(tmp_path):
    """An old run without _config.yaml beside one with it: the same series, not 'constant · sgd'."""
    for seed, with_config in ((0, True), (1, False)):
        run = tmp_path / f"r{seed}"
        synthetic_results.write_run(run, "clean", "torch", "constant", seed, [0.8, 0.85], "complete")
        if with_config:
            (next(run.iterdir()) / "_config.yaml").write_text(
                "scheduler:\n  name: constant\n  kind: constant\n  unit: epoch\n  base_lr: 0.3\n"
                "optimizer:\n  name: sgd\n  momentum: 0.0\n")
    s = _summary(tmp_path)
    assert s.schedules == ["constant"] and s.cell("torch", "constant").final.n == 2


def test_the_report_names_every_run_that_is_not_converging(tmp_path):
    """Verdicts come from the curves (harness/verdicts.py), also for results written before the
    runner recorded them; the report counts them and names each run that is not converging."""
    from harness.report.load import load_results
    from harness.report.render import verdict_lines
    from tests.synthetic_results import build_zoo

    df = load_results([build_zoo(tmp_path / "zoo")])
    summary, flagged, every = verdict_lines(df)
    assert summary.startswith(f"{df.run_id.nunique()} finished runs: ")
    assert len(every) == df.run_id.nunique()
    assert any("never learned" in line for line in flagged)
    assert all("converging" not in line.split(": **")[-1][:12] for line in flagged)


def test_the_tuning_grid_is_chosen_on_validation_and_tested_apart():
    """A 2-epoch grid over two base rates (val_acc decides, test_acc is deliberately the other
    way round) and one 3-epoch retrain of the chosen rate: the section picks by validation and
    shows the retrain's test accuracy on its own."""
    import pandas as pd

    from harness.report.blocks import Table, to_html, to_markdown
    from harness.report.tuning_section import TUNING_PNG, tuning_blocks, tuning_choice, tuning_png

    rows = []
    for rid, lr, epochs, val_acc, test_acc in (("a", 0.1, 2, 0.80, 0.70), ("b", 0.3, 2, 0.75, 0.90),
                                                ("c", 0.1, 3, None, 0.88)):
        for epoch in range(epochs):
            rows.append(dict(run_id=rid, framework="torch", scheduler="cosine", base_lr=lr, epochs=epochs, epoch=epoch,
                             val_acc=val_acc, val_loss=None if val_acc is None else 1 - val_acc, test_acc=test_acc,
                             status="complete"))
    choice = tuning_choice(pd.DataFrame(rows))
    blocks = tuning_blocks(choice)
    md = to_markdown(blocks)
    assert "| PyTorch cosine | 0.1 | 80.00% (1 seed, mean) | at the smallest rate tried: at the edge of the grid, widen " \
           "it | 3 | 88.00% (one seed) |" in md
    png = tuning_png(choice)
    assert len(png) > 5_000 and f"![tuning grid]({TUNING_PNG})" in md
    page = to_html(blocks, {TUNING_PNG: png})
    assert "<th>chosen base_lr</th>" in page and "<td>88.00% (one seed)</td>" in page
    assert sum(isinstance(b, Table) for b in blocks) == 1
    assert tuning_choice(pd.DataFrame(rows).assign(val_acc=None)) is None  # no split, no section


# ------------------------------------------------------------------- faults (issue 33, item 7)


def _one_run(results: Path) -> Path:
    synthetic_results.write_run(results, "clean", "torch", "constant", 0, [0.5, 0.6, 0.7], "complete")
    return results


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 555; the next test covers root")
def test_read_only_results_folder_is_one_line_naming_out(tmp_path, capsys):
    results = _one_run(tmp_path / "results")
    results.chmod(0o555)
    try:
        assert render.main([str(results)]) == 2
    finally:
        results.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report to" in err[0] and "--out DIR" in err[0]
    assert not (results / "_report").exists()


@pytest.mark.parametrize("where", ["under a file", "permission denied"])
def test_an_unwritable_report_folder_is_one_line_naming_out(tmp_path, capsys, monkeypatch, where):
    """As root chmod cannot make a folder read-only: a folder that cannot be created (under a
    file), and a writer that raises PermissionError, stand in for it."""
    results = _one_run(tmp_path / "results")
    out = tmp_path / "a-file" / "_report"
    (tmp_path / "a-file").write_text("not a folder")
    if where == "permission denied":
        out = tmp_path / "out"

        def denied(self, *a, **k):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "write_bytes", denied)
    assert render.main([str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness report: error: cannot write the report to")
    assert "pass --out DIR" in err[0] and "Traceback" not in err[0]


def test_a_corrupt_parquet_is_named_and_the_rest_reported(tmp_path, capsys):
    results = _one_run(tmp_path / "results")
    synthetic_results.write_run(results, "clean", "torch", "cosine", 0, [0.5, 0.7, 0.8], "complete")
    bad = results / "clean-torch-cosine-s0" / "epochs.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    assert render.main([str(results), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness report: warning: {bad} is not a readable parquet file")
    assert f"`python -m harness status {results}` shows its run" in err[0]
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"> ⚠ {bad} is not a readable parquet file" in md
    assert "| PyTorch | constant |" in md and "| PyTorch | cosine |" not in md


# ------------------------------------------------------- runs named by what differs (item 5)


@pytest.mark.parametrize("column, values, words", [
    ("optimizer", ("sgd", "adam"), ("optimizer=sgd", "optimizer=adam")),
    ("base_lr", (0.3, 0.03), ("lr=0.3", "lr=0.03")),
    ("batch_size", (256, 1024), ("batch=256", "batch=1024")),
])
def test_runs_that_differ_in_one_setting_get_distinct_names(tmp_path, column, values, words):
    from harness.results import write_epochs

    for i, value in enumerate(values):
        for seed in (0, 1):
            rows = synthetic_results._rows("clean", "torch", "cosine", seed, [0.5, 0.4, 0.3, 0.2, 0.1], "complete")
            for row in rows:
                row[column] = value
                row["run_id"] = f"{row['run_id'][:10]}-{i}"
            write_epochs(tmp_path / f"run-{i}-{seed}", rows)
    df = load.load_results(tmp_path)
    _, flagged, every = render.verdict_lines(df)
    assert len(every) == 4 and len(set(every)) == 4
    for word in words:
        for seed in (0, 1):
            assert sum(line.startswith(f"clean · PyTorch cosine ({word}) seed {seed}:") for line in every) == 1
    # the same settings, seeds only: nothing added
    _, _, plain = render.verdict_lines(df[df[column] == values[0]])
    assert plain[0].startswith("clean · PyTorch cosine seed 0:")


# ------------------------------------------------------------------ figures that read (item 4)


def test_learning_rate_epochs_come_from_each_runs_own_updates_per_epoch(tmp_path):
    """A run on 10,000 images has 40 updates per epoch, one on 2,560 has 10: both end at epoch 5
    (dividing 200 updates by the other's 10 put the first at epoch 20)."""
    from harness.results import write_epochs

    for sched, steps in (("constant", 10), ("cosine", 40)):
        rows = synthetic_results._rows("clean", "torch", sched, 0, [0.5, 0.6, 0.7, 0.8, 0.85], "complete")
        for row in rows:
            row["step_lrs"] = [0.1] * steps
        write_epochs(tmp_path / sched, rows)
    s = _summary(tmp_path)
    df = load.load_results(tmp_path)
    seqs, epochs, _ = panels.lr_sequences(df, s)
    (key,) = seqs
    assert seqs[key]["cosine"].size == 200 and seqs[key]["constant"].size == 50
    assert epochs[key]["cosine"][40] == 1.0 and epochs[key]["constant"][10] == 1.0
    assert epochs[key]["cosine"].max() == pytest.approx(4 + 39 / 40) and epochs[key]["constant"].max() == 4.9


def test_a_family_of_many_series_is_split_into_small_panels(tmp_path):
    """Sixteen cosine runs at sixteen rates: one family, drawn as panels of at most six."""
    for i in range(16):
        synthetic_results.write_run(tmp_path, "clean", "torch", "cosine", 0, [0.5, 0.6, 0.7, 0.8, 0.8 + i / 1000],
                                    "complete")
        rows_dir = tmp_path / "clean-torch-cosine-s0"
        renamed = tmp_path / f"cosine-{i}"
        rows_dir.rename(renamed)
        import pyarrow.parquet as pq

        t = pq.read_table(renamed / "epochs.parquet").to_pandas()
        t["base_lr"], t["run_id"] = 0.01 * (i + 1), f"run{i:02d}"
        pq.write_table(__import__("pyarrow").Table.from_pandas(t, preserve_index=False), renamed / "epochs.parquet")
    s = _summary(tmp_path)
    assert len(s.schedules) == 16
    groups = panels.families(s)
    assert [name for name, _ in groups] == ["cosine (1 of 3)", "cosine (2 of 3)", "cosine (3 of 3)"]
    assert [len(m) for _, m in groups] == [6, 5, 5]
    assert sorted(x for _, m in groups for x in m) == sorted(s.schedules)


def test_a_rate_sequence_drawn_under_another_says_so_in_the_legend(tmp_path):
    import matplotlib

    from harness.report import rate_figures

    step = np.repeat([0.1, 0.01], 5)
    sequences = {"torch": {"step": step, "wsd": step.copy(), "cosine": np.linspace(0.1, 0, 10)},
                 "tf": {"step": step, "wsd": step.copy()}}
    epochs = {k: {name: np.arange(10) / 5 for name in seqs} for k, seqs in sequences.items()}
    assert rate_figures._labels(sequences, ["step", "wsd", "cosine"]) == {
        "step": "step", "wsd": "wsd (= step)", "cosine": "cosine"}
    sequences["tf"]["wsd"] = step * 2  # the same in one framework only: no longer drawn under it everywhere
    assert rate_figures._labels(sequences, ["step", "wsd"])["wsd"] == "wsd"
    sequences["tf"]["wsd"] = step.copy()
    captured = []
    real_save = rate_figures.save
    rate_figures.save = lambda fig, path: captured.extend(t.get_text() for lg in fig.legends for t in lg.get_texts())
    try:
        rate_figures.plot_learning_rates(sequences, epochs, {"torch": "PyTorch", "tf": "TensorFlow"},
                                         ["step", "wsd", "cosine"], assign_styles([(n, n, None, 0) for n in ("step", "wsd", "cosine")]),
                                         "rates", tmp_path / "lr.png")
    finally:
        rate_figures.save = real_save
        matplotlib.pyplot.close("all")
    assert captured == ["step", "wsd (= step)", "cosine"]
