"""``python -m harness plan [-m] KEY=VALUE ...`` (or ``--dry-run``): the runs a command would
start, their ids and folders, and which are finished already; trains nothing, writes nothing,
imports no framework."""

from __future__ import annotations

from harness.errors import HarnessError


def main(args: list[str]) -> int:
    from harness.errors import fail
    from harness.preflight import preflight
    from harness.identity import results_path, run_dir, run_id, shown, variant
    from harness.results import FINISHED, CorruptFile, read_epochs

    try:
        configs = preflight(args)
    except HarnessError as exc:
        fail(str(exc))
    seen: set = set()
    counts: dict[str, int] = {}
    print(f"{'#':>4}  {'state':<13} {'run_id':<16}  {'framework':<9} {'optimizer':<19} {'variant':<44} {'seed':>5}  folder")
    for number, canonical in enumerate(configs, 1):  # the preflight's runs are canonical
        folder = run_dir(canonical, results_path(canonical.results_dir))
        if folder in seen:
            state = "same as above"
        else:
            seen.add(folder)
            try:
                rows = read_epochs(folder)
            except CorruptFile:
                rows, state = None, "unreadable"
            else:
                if not rows:
                    state = "new"
                elif rows[-1]["status"] in FINISHED and not canonical.rerun:
                    state = f"{rows[-1]['status']}"
                else:
                    state = f"resume at {len(rows)}/{canonical.epochs}"
            counts[state.split(" ")[0]] = counts.get(state.split(" ")[0], 0) + 1
        print(f"{number:>4}  {state:<13} {run_id(canonical):<16}  {canonical.framework.name:<9} "
              f"{canonical.optimizer.name:<19} {variant(canonical):<44} {canonical.seed:>5}  {shown(folder)}/")
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    jobs, runs = len(configs), len(seen)
    print(f"harness: plan: {jobs} {'job' if jobs == 1 else 'jobs'}, {runs} {'run' if runs == 1 else 'runs'}: "
          f"{summary}; nothing was trained")
    return 0
