"""The guideline study (results/guideline_study/): the guides' schedule advice, each schedule at
its own base rate tuned on validation, then trained on the full data with enough seeds to decide.

``python -m harness.studies.guideline tune``    the grid: every schedule x 6 base rates x 2 seeds,
                                               30 epochs on 10,000 images, validated on 10,000 others
``python -m harness.studies.guideline choose``  the chosen rate per schedule (grid on validation only)
``python -m harness.studies.guideline final``   every schedule at its chosen rate, 60,000 images, 30
                                               epochs: 10 seeds in PyTorch, 3 in TensorFlow and MXNet
                                               for the schedules the claims single out
``python -m harness.studies.guideline plan``    what each phase would train and what is finished
``python -m harness.studies.guideline report``  the study's report (harness.studies.report): the claims
                                               tested, the ranking, the grid; works on a partial study
``python -m harness.studies.guideline all``     tune, final, then the report
``python -m harness.studies.guideline confirm`` the confirmatory phase declared in studies/guideline.yaml
                                               (fresh PyTorch seeds, and the claim-6 re-grid), in its order

Every phase is an ordinary sweep of ``python -m harness -m ...`` (two runs at a time with one
thread each), so finished runs are skipped and a killed one resumes: run the same command again.
The common settings are the presets ``experiments/guideline_tuning.yaml`` and
``experiments/guideline_final.yaml``; what differs per schedule is below, in one table.

Why the shapes are written out here: a schedule's horizon in *updates* depends on the training set
(40 updates an epoch on 10,000 images, 235 on 60,000), and the grid must tune the same shape the
final runs train, so the per-update lengths are given in epochs and converted per phase. A warmup
runs per update (``unit=step``) so that no whole epoch trains at rate 0; every floor
(``final_lr``, plateau's ``min_lr``) is 0 so that the shape scales with the tuned rate.
"""

from __future__ import annotations

import argparse
import sys

from harness.paths import STUDIES_DIR
from harness.studies.sweeps import run_phase
from harness.studies.arms import (
    ALL,
    ARMS,
    FULL_TRAIN,
    GRID_SEEDS,
    GRID_TRAIN,
    OTHER_SEEDS,
    SHORT_ARMS,
    SHORT_BUDGETS,
    STUDY_DIR,
    TORCH_SEEDS,
    TUNING_DIR,
    VAL,
    arm_overrides,
    rate_overrides,
)


STUDY_FILE = STUDIES_DIR / "guideline.yaml"  # the confirmatory phase, declared before its runs


def sweep_common(preset: str, jobs: int) -> list[str]:
    return [f"experiments={preset}", "threads=1", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}",
            "progress=false"]


def tuning_sweeps(jobs: int = 2) -> list[list[str]]:
    """One sweep per arm (per rate for cyclic, whose two rates move together)."""
    sweeps = []
    for arm in ARMS:
        head = ["-m", *sweep_common("guideline_tuning", jobs), *arm_overrides(arm, GRID_TRAIN)]
        seeds = f"seed={','.join(map(str, GRID_SEEDS))}"
        if arm.peak_key:
            sweeps += [[*head, *rate_overrides(arm, rate), seeds] for rate in arm.rates]
        else:
            sweeps.append([*head, f"scheduler.base_lr={','.join(f'{r:g}' for r in arm.rates)}", seeds])
    return sweeps


def final_sweeps(chosen: dict[str, float], jobs: int = 2) -> list[list[str]]:
    """Seed-major: the first three seeds of every arm come first, so a study stopped half way
    already compares every schedule; then claim 4's short budgets (PyTorch, ten seeds), so that
    every claim has its evidence; then PyTorch's other seven seeds at 30 epochs."""
    def sweep(framework: str, arm, seeds, budget: int | None = None) -> list[str]:
        if budget is not None:
            return ["-m", *sweep_common("guideline_final", jobs), "framework=torch", f"epochs={budget}",
                    *arm_overrides(arm, FULL_TRAIN, budget), *rate_overrides(arm, chosen[arm.label]),
                    f"seed={','.join(map(str, seeds))}"]
        train = FULL_TRAIN - VAL if arm.option == "plateau" else FULL_TRAIN
        split = [f"data.val_size={VAL}"] if arm.option == "plateau" else []
        return ["-m", *sweep_common("guideline_final", jobs), f"framework={framework}",
                *arm_overrides(arm, train), *split, *rate_overrides(arm, chosen[arm.label]),
                f"seed={','.join(map(str, seeds))}"]

    arms = [arm for arm in ARMS if arm.label in chosen]
    first = [sweep(framework, arm, OTHER_SEEDS) for framework in ALL for arm in arms if framework in arm.frameworks]
    short = [sweep("torch", arm, TORCH_SEEDS, budget) for budget in SHORT_BUDGETS for arm in arms
             if arm.label in SHORT_ARMS]
    rest = [sweep("torch", arm, TORCH_SEEDS[len(OTHER_SEEDS):]) for arm in arms]
    return first + short + rest


def chosen_rates(tuning_dir: str = TUNING_DIR) -> dict[str, float]:
    """Per arm, the rate with the best mean final validation accuracy over its seeds (ties: the
    lower rate); an arm whose grid is not finished is left out."""
    from harness.studies.grid import choose, grid_table, load_grid

    table = grid_table(load_grid(tuning_dir))
    picks = choose(table, {arm.label: len(arm.rates) for arm in ARMS}, len(GRID_SEEDS))
    return dict(zip(picks["arm"], picks["rate"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.studies.guideline", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("phase", choices=["tune", "choose", "final", "plan", "report", "all", "confirm"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2, one thread each)")
    args = parser.parse_args(argv)
    failed = 0
    if args.phase in ("tune", "all", "plan"):
        failed += run_phase(tuning_sweeps(args.jobs), args.phase == "plan", args.jobs)
    if args.phase in ("choose", "final", "all", "plan"):
        chosen = chosen_rates()
        for label, rate in chosen.items():
            print(f"guideline: {label}: chosen rate {rate:g}")
        missing = [arm.label for arm in ARMS if arm.label not in chosen]
        if missing:
            print(f"guideline: the grid is not finished for {', '.join(missing)}: no final runs for them yet")
        if args.phase != "choose":
            failed += run_phase(final_sweeps(chosen, args.jobs), args.phase == "plan", args.jobs)
    if args.phase == "confirm":
        from harness.studies.study_file import load, study_sweeps

        failed += run_phase(study_sweeps(load(STUDY_FILE), args.jobs), False, args.jobs)
    if args.phase in ("report", "all"):
        from harness.studies.report import build

        print(f"guideline: wrote {build(STUDY_DIR)} (and report.md, PNGs beside it)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
