"""``python -m harness plan [-m] KEY=VALUE ...`` (or ``--dry-run``): the runs a command would
start, their ids and folders, and which are finished already; trains nothing, writes nothing,
imports no framework.

Each run is shown with its optimizer, its schedule's variant (every parameter that is set) and
the other settings that differ between the command's runs (batch size, data size, epochs, ...:
``harness.run_labels``), so no two distinct runs print the same line; columns are as wide as
their widest cell."""

from __future__ import annotations

from harness.errors import HarnessError

HEADER = ("#", "state", "run_id", "framework", "optimizer", "variant", "settings", "seed", "folder")
RIGHT = {"#", "seed"}


def main(args: list[str], cached: bool = False) -> int:
    """``cached``: read the composed configs from harness/compose_cache.py (a study's ``--plan`` plans the
    same sweeps it checked a moment before)."""
    from harness.errors import fail
    from harness.preflight import preflight
    from harness.identity import results_path, run_dir, run_id, shown, variant
    from harness.progress import settings_of
    from harness.results import FINISHED, CorruptFile, read_epochs
    from harness.run_labels import describe, differing_keys
    from harness.schema import as_dict

    try:
        configs = preflight(args, cached=cached)
    except HarnessError as exc:
        fail(str(exc))
    settings = [settings_of(as_dict(cfg)) for cfg in configs]
    # The variant shows every schedule parameter, and the optimizer has its column: the rest here.
    shown_elsewhere = {"optimizer", *(key for cfg in configs for key in as_dict(cfg.scheduler))}
    keys = [k for k in differing_keys(settings) if k not in shown_elsewhere]
    seen: set = set()
    counts: dict[str, int] = {}
    lines = []
    for number, (canonical, setting) in enumerate(zip(configs, settings), 1):  # the preflight's runs are canonical
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
        lines.append([str(number), state, run_id(canonical), canonical.framework.name, canonical.optimizer.name,
                      variant(canonical), describe(setting, keys), str(canonical.seed), f"{shown(folder)}/"])
    header = [h for h in HEADER if h != "settings" or keys]
    if not keys:
        lines = [row[:6] + row[7:] for row in lines]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print("  ".join(cell.rjust(w) if h in RIGHT else cell.ljust(w) for cell, w, h in zip(row, widths, header)).rstrip())
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    jobs, runs = len(configs), len(seen)
    print(f"harness: plan: {jobs} {'job' if jobs == 1 else 'jobs'}, {runs} {'run' if runs == 1 else 'runs'}: "
          f"{summary}; nothing was trained")
    return 0
