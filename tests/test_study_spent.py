"""What a study has cost so far (harness/studies/spent.py): finished runs only, folder by folder, their
epochs and their own clocks' compute, summed for the study."""

from __future__ import annotations

import pandas as pd

from harness import tuning
from harness.report.blocks import to_markdown
from harness.studies.spent import duration, per_epoch, spent_blocks, spent_rows


def rows(run_id: str, seconds: list[tuple[float, float]], last_status: str) -> list[dict]:
    return [{"run_id": run_id, "epoch": e, "train_time_s": t, "eval_time_s": v,
             "status": last_status if e == len(seconds) - 1 else "running"} for e, (t, v) in enumerate(seconds)]


def test_the_cost_counts_finished_runs_by_their_clocks(tmp_path, monkeypatch):
    frames = {
        "tuning": pd.DataFrame(rows("a", [(100.0, 20.0), (90.0, 10.0)], "complete")
                               + rows("b", [(3000.0, 600.0)], "diverged")),
        "final": pd.DataFrame(rows("c", [(1800.0, 0.0)] * 3, "complete")
                              + rows("d", [(5000.0, 5000.0)], "interrupted")),  # in progress: not counted
        "confirm": pd.DataFrame(rows("e", [(7.0, 1.0)], "running")),  # nothing finished: no row
    }
    for folder in frames:
        (tmp_path / folder / "run").mkdir(parents=True)
        (tmp_path / folder / "run" / "epochs.parquet").touch()
    monkeypatch.setattr(tuning, "read_results", lambda folder: frames[folder.split("/")[-1]])
    got = spent_rows(tmp_path, {"tuning": ["tune"], "final": ["final", "short5"], "confirm": ["confirm"],
                                "regrid": ["regrid"]})
    assert got == [["tune", "tuning/", "2", "3", "1.1 h", "120.0"],  # 3,820 s; the median of 120, 100, 3,600
                   ["final, short5", "final/", "1", "3", "1.5 h", "1800.0"],  # 5,400 s
                   ["all", "", "3", "6", "2.6 h", ""]]  # 9,220 s
    table = to_markdown(spent_blocks(tmp_path, {"final": ["final"]}))
    assert "| final | final/ | 1 | 3 | 1.5 h | 1800.0 |" in table and "| all |" not in table  # one folder: no sum
    assert spent_blocks(tmp_path, {"regrid": ["regrid"]}) == []


def test_durations_are_worded_by_their_size():
    assert [duration(s) for s in (41.4, 89, 90, 3599, 3600, 84_000)] == ["41 s", "89 s", "2 min", "60 min", "1.0 h",
                                                                          "23.3 h"]
    assert [per_epoch(s) for s in (9.46, 1.0, 0.0314)] == ["9.5", "1.0", "0.031"]
