"""``python -m harness study FILE``: run a declared study (studies/*.yaml) phase by phase through the
ordinary sweep path, print what each grid phase chose and why, and write its report.

    python -m harness study studies/warmup_at_1024.yaml            every phase, then the report
    python -m harness study studies/warmup_at_1024.yaml --plan     what would train, what is done, the cost
    python -m harness study studies/warmup_at_1024.yaml --report   the report from what has run

A bad study file fails before anything trains, with one line naming the key. Run it again to go on:
finished runs are skipped and a killed one resumes.
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError


def _choices(study, phase_name: str, printed: bool) -> dict:
    from harness.studies.outcomes import grid_choices

    phase = study.phases[phase_name]
    choices = grid_choices(study, phase)
    if printed:
        for label, c in choices.items():
            if c.rate is None:
                print(f"study: {phase_name}: {label}: no choice yet ({c.finished} of {c.expected} runs finished"
                      + (f"; {'; '.join(c.notes)}" if c.notes else "") + ")")
            else:
                print(f"study: {phase_name}: {label}: chosen rate {c.rate:g} (best mean final val_acc "
                      f"{100 * c.val_acc:.2f} % over {c.seeds} seeds, of {c.rates} rates)"
                      + "".join(f"; ⚠ {n}" for n in c.notes))
    return {label: c.rate for label, c in choices.items() if c.rate is not None}


def check_runs(study, jobs: int) -> None:
    """Compose and validate every run the study declares before any trains (a final phase at its grid's
    smallest rate, as a stand-in for the choice to come): a HarnessError naming the phase otherwise."""
    from harness.preflight import preflight
    from harness.studies.study_file import phase_sweeps

    for item in study.order:
        phase = study.phases[item.split(":")[0]]
        stand_in = None
        if phase.kind == "final":
            grid = study.phases[phase.rates_from]
            stand_in = {arm.label: min(arm.rates) for arm in grid.arms}
        for sweep in phase_sweeps(study, item, jobs, stand_in):
            try:
                preflight(sweep, cached=True)  # Hydra composes a sweep once; reruns read its cache
            except HarnessError as bad:
                raise HarnessError(f"{study.path}: phase {phase.name}: {bad}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness study", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the study's YAML file, e.g. studies/guideline.yaml")
    parser.add_argument("--plan", action="store_true", help="what would train and what is done; trains nothing")
    parser.add_argument("--report", action="store_true", help="only the report, from what has run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2, one thread each)")
    args = parser.parse_args(argv)
    from harness.studies.study_file import load

    try:
        study = load(args.file)
        if not args.report:
            check_runs(study, args.jobs)
        return _run(study, args)
    except HarnessError as bad:
        print(f"harness: error: {bad}", file=sys.stderr)
        return 2


def _run(study, args) -> int:
    from harness.studies.cost import START_SECONDS, about, cost
    from harness.studies.study_file import phase_sweeps
    from harness.studies.sweeps import run_phase

    failed = 0
    chosen: dict = {}
    if not args.report:
        total_new, total_seconds, rates = 0, 0.0, None
        for item in study.order:
            name = item.split(":")[0]
            phase = study.phases[name]
            if phase.kind == "final":
                chosen[phase.rates_from] = _choices(study, phase.rates_from, printed=False)
                if not chosen[phase.rates_from]:
                    print(f"study: {name}: waits for {phase.rates_from}'s choices (no arm has one yet)")
                    continue
            sweeps = phase_sweeps(study, item, args.jobs, chosen.get(phase.rates_from))
            if args.plan:
                runs, new, seconds, rates = cost(sweeps, rates)
                total_new, total_seconds = total_new + new, total_seconds + seconds
                print(f"study: {item}: {len(sweeps)} sweeps, {runs} runs: {runs - new} finished, {new} to train"
                      + (f" ({about(seconds)} of compute at {rates.basis}, and {START_SECONDS:g} s start-up a run)"
                         if new else ""))
                failed += run_phase(sweeps, True, args.jobs)
                continue
            failed += run_phase(sweeps, False, args.jobs)
            if phase.kind == "grid":
                chosen[name] = _choices(study, name, printed=True)
        if args.plan:
            print(f"study: {total_new} runs to train, {about(total_seconds)} of compute "
                  f"({about(total_seconds / max(1, args.jobs))} of wall time with {args.jobs} jobs)" if total_new
                  else "study: nothing to train: every declared run has finished")
            return 1 if failed else 0
    print(f"study: wrote {build_report(study)} (and report.md beside it)", flush=True)
    return 1 if failed else 0


def build_report(study):
    """The report the study file names: its own (study), the generic runs report, or the guideline's."""
    if study.report == "runs":
        from harness.report import build_report as runs_report

        return runs_report([study.results_dir], None)
    if study.report == "guideline":
        from harness.studies.report import build

        return build(study.results_dir)
    from harness.studies.study_report import build

    return build(study)


if __name__ == "__main__":
    sys.exit(main())
