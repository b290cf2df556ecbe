"""What a study has cost so far, folder by folder: its runs, the epochs they trained and the compute
those took by the runs' own clocks (each row's ``train_time_s + eval_time_s``). The clocks leave out
each run's start-up (imports, data) and any epoch a killed run trained again after its last
checkpoint, so this is a floor on the machine time, not a wall time: runs overlap with ``--jobs``.
``study --plan`` says what the rest will cost (``harness.studies.cost``).
"""

from __future__ import annotations

from pathlib import Path

from harness.report.blocks import Block, Heading, Paragraph
from harness.studies.tables import text_table


def folders_of(study) -> dict[str, list[str]]:
    """Each results folder of the study and the phases that write into it, in the study file's order."""
    out: dict[str, list[str]] = {}
    for name, phase in study.phases.items():
        out.setdefault(phase.folder, []).append(name)
    return out


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def per_epoch(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2g}"


def spent_rows(study_dir: Path, folders: dict[str, list[str]]) -> list[list[str]]:
    """One row per folder that holds finished runs: its phases, those runs, their epochs, their compute and
    median seconds per epoch; and a last row for the whole study when there are several."""
    from harness import tuning
    from harness.results import FINISHED

    rows, runs_all, epochs_all, seconds_all = [], 0, 0, 0.0
    for folder, phases in folders.items():
        path = Path(study_dir) / folder
        if not path.is_dir() or not any(path.glob("*/epochs.parquet")):
            continue
        frame = tuning.read_results(str(path))
        last = frame.sort_values("epoch").groupby("run_id").tail(1)
        done = set(last.loc[last["status"].isin(FINISHED), "run_id"])
        if not done:
            continue
        # Finished runs only: a run in progress is never committed, and a clean clone rebuilds the same table.
        frame = frame[frame["run_id"].isin(done)]
        seconds = frame["train_time_s"].fillna(0) + frame["eval_time_s"].fillna(0)
        rows.append([", ".join(phases), f"{folder}/", f"{len(done)}", f"{len(frame):,}", duration(seconds.sum()),
                     per_epoch(seconds.median())])
        runs_all, epochs_all, seconds_all = runs_all + len(done), epochs_all + len(frame), seconds_all + seconds.sum()
    if len(rows) > 1:
        rows.append(["all", "", f"{runs_all}", f"{epochs_all:,}", duration(seconds_all), ""])
    return rows


def spent_blocks(study_dir: Path, folders: dict[str, list[str]]) -> list[Block]:
    rows = spent_rows(study_dir, folders)
    if not rows:
        return []
    return [Heading(2, "What it cost so far"),
            Paragraph("The finished runs' compute by their own clocks: training and evaluation of every epoch kept "
                      "(each run's start-up and any epoch retrained after a resume are left out, so the machine "
                      "time was longer; runs trained side by side with --jobs, so the wall time was shorter). "
                      "python -m harness study FILE --plan estimates what is left.", "notes", markup=False),
            text_table(["phases", "folder", "finished runs", "epochs", "compute", "median s per epoch"], rows)]
