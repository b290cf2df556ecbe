"""A study report's wording (harness/studies/study_report.py) on exact numbers."""

from __future__ import annotations


def test_a_mean_too_spread_for_a_t_interval_shows_its_seeds_and_says_why():
    from harness.studies.study_report import _mean_ci

    # The warmup_at_1024 study's SGD arm, 2 epochs: a t interval over these four would reach below 0 %.
    assert _mean_ci([49.5, 16.0, 18.0, 15.3]) == ("24.70 % (seeds 49.5, 16.0, 18.0, 15.3: a 95 % t interval would "
                                                  "pass 0 %, so the seeds are shown instead)")
    assert _mean_ci([90.1, 90.3, 90.2]) == "90.20 % [89.95, 90.45]"
