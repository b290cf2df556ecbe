"""A study's --plan estimate (harness/studies/cost.py): each run's epochs at measured seconds per image, plus
its start-up; the exact arithmetic on known rows, and the wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import results
from harness.preflight import preflight
from harness.studies import cost

SMALL = ["optimizer=adam", "scheduler.final_lr=0", "batch_size=1024", "data.train_size=4096",
         "data.val_size=2048", "data.test_size=2048", "epochs=2"]


def test_a_run_costs_its_start_up_and_its_images_at_the_rates():
    (cfg,) = preflight(SMALL)
    rates = cost.Rates(train=1e-4, evaluate=4e-5, basis="")
    assert rates.run_seconds(cfg) == pytest.approx(cost.START_SECONDS + 2 * (4096 * 1e-4 + (2048 + 2048) * 4e-5))
    (full,) = preflight(["epochs=30"])  # all 60,000 training images, all 10,000 test images, no validation split
    assert rates.run_seconds(full) == pytest.approx(cost.START_SECONDS + 30 * (60_000 * 1e-4 + 10_000 * 4e-5))


def test_the_rates_are_the_median_of_the_finished_runs_epochs_after_the_first(monkeypatch):
    (cfg,) = preflight(SMALL)
    rows = {  # seconds per epoch: the first epoch (warm-up) is left out
        "a": [{"epoch": 0, "train_time_s": 9.0, "eval_time_s": 9.0, "train_size": 4096, "test_size": 2048},
              {"epoch": 1, "train_time_s": 0.4096, "eval_time_s": 0.08192, "train_size": 4096, "test_size": 2048}],
        "b": [{"epoch": 1, "train_time_s": 0.8192, "eval_time_s": 0.16384, "train_size": 4096, "test_size": 2048},
              {"epoch": 2, "train_time_s": 0.6144, "eval_time_s": 0.12288, "train_size": 4096, "test_size": 2048}],
    }
    monkeypatch.setattr(results, "read_epochs", lambda folder: rows[folder.name])
    rates = cost.measured([(cfg, Path("a")), (cfg, Path("b"))])
    assert rates.train == pytest.approx(1.5e-4)  # median of 1e-4, 2e-4, 1.5e-4 per trained image
    assert rates.evaluate == pytest.approx(3e-5)  # of 2e-5, 4e-5, 3e-5 per image of 2,048 test + 2,048 validation
    assert rates.basis == "9.0 s per 60,000-image epoch, measured on 2 finished runs of the study"
    assert cost.measured([], rates, [cfg]) is rates  # nothing finished here: an earlier phase's measurement
    default = cost.measured([])
    assert default.train == pytest.approx(cost.DEFAULT_EPOCH_SECONDS / 60_000)
    assert default.evaluate == pytest.approx(cost.EVAL_SHARE * default.train)
    assert default.basis.endswith("(the guideline study's median: no run of the study has finished)")


@pytest.mark.parametrize("other", [["batch_size=256"], ["model=fmnist_mlp"], ["framework=tf"]])
def test_an_earlier_phase_is_borrowed_only_for_the_same_framework_network_and_batch_size(other):
    (cfg,) = preflight(SMALL)
    key = other[0].split("=")[0]
    (elsewhere,) = preflight([*[arg for arg in SMALL if not arg.startswith(f"{key}=")], *other])
    earlier = cost.Rates(1e-4, 4e-5, "earlier", frozenset({cost.setting(cfg)}))
    assert cost.measured([], earlier, [cfg]) is earlier
    default = cost.measured([], earlier, [cfg, elsewhere])
    assert default.train == pytest.approx(cost.DEFAULT_EPOCH_SECONDS / 60_000)
    assert default.basis.endswith("no finished run of the study trains this framework, network and batch size)")


@pytest.mark.parametrize("seconds, said", [(30, "less than 2 min"), (600, "about 10 min"), (7200, "about 2.0 h")])
def test_the_estimate_is_worded_by_its_size(seconds, said):
    assert cost.about(seconds) == said

