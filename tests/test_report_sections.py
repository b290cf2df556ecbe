"""Report sections that plug in (harness/report/sections.py) and per-run metrics declared once
(harness/report/metrics.py): issue 35's example metric, "epochs to 85%", as an optional section."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from harness.report import load, metrics, render, run_table, sections, summary
from tests import synthetic_results


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return synthetic_results.build(tmp_path_factory.mktemp("results"))


def test_first_epoch_reaching_and_its_text():
    run = pd.DataFrame({"epoch": [0, 1, 2, 3], "test_acc": [0.5, 0.849, 0.85, 0.9]})
    assert metrics.EPOCHS_TO_85.compute(run) == 3  # epochs count from 1; 0.85 itself reaches it
    assert metrics.EPOCHS_TO_85.compute(run.assign(test_acc=0.2)) is None
    assert metrics.EPOCHS_TO_TARGET.compute(run) == 4  # 88%
    assert metrics.median_range_text([3, 5, None]) == "4 (3–5), 1 of 3 never"
    assert metrics.median_range_text([None]) == "never" and metrics.median_range_text([]) == "—"


def test_epochs_to_85_section_only_when_asked(results_dir, tmp_path):
    """Its table (seeds' first epoch at 85%: final − OFFSETS[e], synthetic_results) and bar plot
    appear after each protocol's Numbers with --section, and nowhere without it."""
    out = tmp_path / "out"
    assert render.main([str(results_dir), "--out", str(out), "--section", "epochs_to_85"]) == 0
    md = (out / "report.md").read_text()
    df = load.load_results(results_dir)
    runs = run_table.summarise_runs(df)
    summaries = [summary.summarise_protocol(df, runs, p, load.load_published(), summary.pooled_seed_sd(runs))
                 for p in ("clean", "d2l")]
    extra = (sections.OPTIONAL["epochs_to_85"],)
    files = sections.figure_files(summaries, extra)
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md) == files
    assert files.count("epochs_to_85_clean.png") == files.count("epochs_to_85_d2l.png") == 1
    assert sorted(p.name for p in out.glob("*.png")) == sorted(files)
    clean = md[md.index("### Epochs to 85%"):md.index("![epochs to 85% per schedule and framework, clean")]
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                              for line in clean.splitlines() if line.startswith("| "))}
    # torch constant: finals 0.89/0.90/0.91 reach 85% after epochs 3, 2, 2; tf constant after 3, 3, 3;
    # torch warmup's diverged fourth seed is out, tf warmup never ran
    assert rows["constant"] == ["2 (2–3)", "3"]
    assert rows["schedule"] == ["PyTorch", "TensorFlow"] and rows["warmup"] == ["2", "—"]
    assert md.index("### Numbers") < md.index("### Epochs to 85%") < md.index("## d2l protocol")

    plain = tmp_path / "plain"
    assert render.main([str(results_dir), "--out", str(plain)]) == 0
    assert "Epochs to 85%" not in (plain / "report.md").read_text()
    assert not list(plain.glob("epochs_to_85_*.png"))


def test_unknown_section_is_one_line(results_dir, tmp_path, capsys):
    assert render.main([str(results_dir), "--out", str(tmp_path / "o"), "--section", "epochs_to_58"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["harness report: error: --section 'epochs_to_58' is not a report section; choose one of "
                   "epochs_to_85"]
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_runs_on_two_datasets_are_two_series_and_mnist_is_not_the_chapters(tmp_path):
    """The same settings on MNIST and on Fashion-MNIST are never pooled: two series named by their
    dataset, and the chapter's published figure (Fashion-MNIST) is not compared with the MNIST one."""
    from harness.results import write_epochs

    accs = [0.877 - o for o in (synthetic_results.OFFSETS[0],) * 25 + synthetic_results.OFFSETS]
    for dataset, shift in (("fashion_mnist", 0.0), ("mnist", 0.1)):
        for seed in (0, 1):
            rows = synthetic_results._rows("d2l", "torch", "constant", seed, [a + shift - 0.01 * seed for a in accs],
                                           "complete")
            rows = [dict(r, run_id=f"{dataset[:8]}{seed:08d}", dataset=dataset) for r in rows]
            write_epochs(tmp_path / "res" / f"{dataset}-{seed}", rows)
    df = load.load_results(tmp_path / "res")
    runs = run_table.summarise_runs(df)
    s = summary.summarise_protocol(df, runs, "d2l", load.load_published(), summary.pooled_seed_sd(runs))
    assert s.schedules == ["constant · Fashion-MNIST", "constant · MNIST"]
    fashion, mnist = (s.cell("torch", label) for label in s.schedules)
    assert fashion.final.n == mnist.final.n == 2 and round(mnist.final.mean - fashion.final.mean, 6) == 0.1
    assert fashion.published == 0.877 and mnist.published is None and mnist.budget_differs == ["dataset MNIST"]
    assert sections.report_title(runs) == "Learning-rate schedules on Fashion-MNIST and MNIST: PyTorch"
