"""The guideline study's report beside its claims: the ranking of the final runs, their rank
agreement across frameworks, the chosen rates, the seeds needed, the study's limits and the
headline, as table rows and lines of text (harness.studies.report lays them out)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.findings import pct
from harness.report.load import FRAMEWORK_ORDER, fw_label
from harness.studies import grid
from harness.studies.arms import ALL, ARMS, EPOCHS, GRID_SEEDS, OTHER_SEEDS, SGD, SHORT_ARMS, SHORT_BUDGETS, TORCH_SEEDS
from harness.studies.report_claims import CONTRADICTED, SUPPORTED, UNDECIDED, Claim, band_text


def t_interval(values) -> tuple[float, float | None, float | None]:
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()) if x.size else math.nan, None, None
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def _acc(values) -> str:
    mean, lo, hi = t_interval(values)
    if not len(values):
        return "—"
    if lo is None:
        return f"{100 * mean:.2f}% (n=1)"
    if lo < 0 or hi > 1 or (np.asarray(values) < 0.2).any():  # dead seeds: an interval would describe no run
        return f"{100 * mean:.2f}%: seeds " + ", ".join(f"{100 * v:.1f}" for v in sorted(values))
    return f"{100 * mean:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"


def planned(arm: str, framework: str, budget: int = EPOCHS) -> int:
    """Final runs the design plans for the arm in the framework at the budget (in epochs)."""
    a = grid.ARM_OF[arm]
    if framework not in a.frameworks:
        return 0
    if budget != EPOCHS:  # claim 4's short budgets: PyTorch only, its few arms
        return len(TORCH_SEEDS) if framework == "torch" and arm in SHORT_ARMS else 0
    return len(TORCH_SEEDS) if framework == "torch" else len(OTHER_SEEDS)


def ranking(last: pd.DataFrame, framework: str, chosen: pd.DataFrame, budget: int = EPOCHS) -> list[dict]:
    """The ranking table's rows: each planned arm's finished runs at the budget, best mean first."""
    from harness.report.stats import success_rate

    rates = dict(zip(chosen["arm"], chosen["rate"]))
    rows = []
    for arm in grid.ARM_ORDER:
        if planned(arm, framework, budget) == 0:
            continue
        g = last[(last["arm"] == arm) & (last["framework"] == framework) & (last["epochs"] == budget)]
        done = g[g["finished"]]
        learned = done[~done["failed"]]  # the failed-seeds rule: means and ranks over the seeds that learned
        ok = len(learned)
        rate, low, high = success_rate(ok, len(done)) if len(done) else (None, None, None)
        rows.append({"arm": arm, "rate": f"{rates[arm]:g}" if arm in rates else "grid not finished",
                     "_mean": float(learned["test"].mean()) if len(learned) else -1.0,
                     "runs": f"{len(done)} of {planned(arm, framework, budget)}" + (f" (+{len(g) - len(done)} running)"
                                                                          if len(g) > len(done) else ""),
                     "success": "—" if rate is None else f"{ok}/{len(done)} [{100 * low:.0f}–{100 * high:.0f}%]",
                     "final": _acc(learned["test"].to_numpy()), "last5": _acc(learned["test_last5"].to_numpy()),
                     "_failed": len(done) - ok})
    rows.sort(key=lambda r: -r["_mean"])
    position = 0
    for r in rows:
        position += 1
        r["rank"] = str(position) if r["_mean"] >= 0 else "—"
    return rows


RANK_COLS = [("rank", "#", True), ("arm", "schedule", False), ("rate", "chosen rate", True), ("runs", "seeds", True),
             ("final", "final test acc [95% CI]", True), ("last5", "mean of last 5 epochs [95% CI]", True),
             ("success", "learned [95% CI]", True)]


def final_curves(final: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per (framework, arm, epoch) over the finished 30-epoch runs: mean, min, max."""
    runs = grid.last_rows(final)
    done = set(runs.loc[runs["finished"] & ~runs["failed"] & (runs["epochs"] == EPOCHS), "run_id"])
    g = final[final["run_id"].isin(done)]
    if g.empty:
        return pd.DataFrame(columns=["framework", "label", "metric", "epoch", "mean", "lo", "hi"])
    out = (g.groupby(["framework", "arm", "epoch"]).test_acc.agg(mean="mean", lo="min", hi="max").reset_index()
           .rename(columns={"arm": "label"}))
    out["metric"] = "test_acc"
    return out


def headline(last: pd.DataFrame, found: list[Claim]) -> str:
    """The best PyTorch arm at 30 epochs, named among the SGD arms (the study's schedules all use
    SGD with momentum 0.9) and, apart, among the Adam arms: a winner is never picked across
    optimizers or budgets. Which differences are real is the claims table's job, not this line's."""
    done = last[last["finished"] & (last["epochs"] == EPOCHS) & (last["framework"] == "torch")]
    which = {v: [c.number for c in found if c.verdict == v] for v in (SUPPORTED, CONTRADICTED, UNDECIDED)}
    tally = "; ".join(f"{v} {len(n)}" + (f" ({', '.join(n)})" if n and v != UNDECIDED else "")
                      for v, n in which.items())
    if done.empty:
        return f"No final run has finished yet: the claims cannot be tested ({tally}). The tuning grid is below."
    sgd = {arm.label for arm in ARMS if arm.optimizer == SGD}
    parts = [_best_of(done[done["arm"].isin(sgd)], "In PyTorch with SGD (momentum 0.9), "),
             _best_of(done[~done["arm"].isin(sgd)], "With Adam, ")]
    return ". ".join(p for p in parts if p) + f". Of the guides' claims: {tally}."


def _best_of(done: pd.DataFrame, lead: str) -> str:
    """The lead, the arm with the highest mean, its seeds (and failures), and the runner-up."""
    if done.empty:
        return ""
    means = done.groupby("arm")["test"].mean().sort_values(ascending=False, kind="mergesort")
    seeds = done.groupby("arm").size()
    top = means.index[0]
    n = int(seeds[top])
    failed = int(done.loc[done["arm"] == top, "failed"].sum())
    text = (f"{lead}{top} has the highest mean final test accuracy, {pct(means.iloc[0], 2)} over {n} "
            f"seed{'s' * (n != 1)}")
    if failed:
        text += f" — but {failed} of its {n} seeds diverged, never learned or collapsed"
    if len(means) > 1:
        runner_up = means.index[1]
        text += f", next {runner_up} {pct(means.iloc[1], 2)} ({int(seeds[runner_up])})"
    return text


def rank_agreement_lines(last: pd.DataFrame) -> str:
    from harness.report.stats import rank_agreement

    done = last[last["finished"] & (last["epochs"] == EPOCHS)]
    means = done.groupby(["framework", "arm"])["test"].mean()
    parts = []
    fws = [f for f in FRAMEWORK_ORDER if f in set(done["framework"])]
    for i, a in enumerate(fws):
        for b in fws[i + 1:]:
            arms = sorted(set(means[a].index) & set(means[b].index))
            if len(arms) < 3:
                parts.append(f"{fw_label(a)}–{fw_label(b)}: fewer than 3 arms in both")
                continue
            rho, p, n = rank_agreement([means[a][x] for x in arms], [means[b][x] for x in arms])
            if rho is None or not math.isfinite(rho):
                parts.append(f"{fw_label(a)}–{fw_label(b)}: undefined ({n} arms, one side all tied)")
            else:
                parts.append(f"{fw_label(a)}–{fw_label(b)} ρ={rho:.2f} (p={p:.2g}, {n} arms)")
    return "; ".join(parts) if parts else "no two frameworks have finished runs yet."


def chosen_rows(table: pd.DataFrame, chosen: pd.DataFrame, band: pd.DataFrame) -> list[dict]:
    picks = dict(zip(chosen["arm"], zip(chosen["rate"], chosen["val_acc"])))
    bands = {r["arm"]: r for _, r in band.iterrows()} if len(band) else {}
    rows = []
    for arm in grid.ARM_ORDER:
        g = table[table["arm"] == arm] if len(table) else table
        fails = int(g[["diverged", "never_learned", "collapsed"]].to_numpy().sum()) if len(g) else 0
        want = len(grid.ARM_OF[arm].rates) * len(GRID_SEEDS)
        if arm in picks:
            b = bands.get(arm)
            rows.append({"arm": arm, "rate": f"{picks[arm][0]:g}", "val": pct(picks[arm][1], 2),
                         "band": band_text(b).split(": ", 1)[1] if b is not None else "—", "fails": str(fails)})
        else:
            done = int(g["n"].sum()) if len(g) else 0
            rows.append({"arm": arm, "rate": "—", "val": "—", "band": f"grid not finished: {done} of {want} runs",
                         "fails": str(fails)})
    return rows


def seeds_lines(table: pd.DataFrame) -> list[str]:
    sd = grid.paired_sd(table, grid.ARM_ORDER)
    if sd["sd_diff"] is None:
        return ["Not yet: the grid needs two arms with both seeds finished at a point with no failed seed."]
    # the claims' families (claims() declares them): 1 and 3 have 2 comparisons, 5 has 3, 4 (per arm,
    # 3 at each short budget) 6, 2 has 16
    families = {"one comparison": 1, "2 comparisons (claims 1, 3)": 2, "3 (claim 5)": 3, "6 (claim 4)": 6,
                "16 (claim 2)": 16}
    lines = [f"From the grid: the SD of a paired difference between two arms (at each arm's best point so far with "
             f"both seeds and no failed seed, seeds 0 and 1, "
             f"pooled over {sd['pairs']} pairs of {sd['arms']} arms) is {100 * sd['sd_diff']:.2f} pp; unpaired it would "
             f"be {100 * sd['sd_unpaired']:.2f} pp. The grid trains on 10,000 images; the final runs' SD may differ."]
    if sd["sd_diff"] == 0:
        return lines + ["The paired differences did not vary between the two seeds: no seed count follows from them."]
    for name, m, n in grid.seeds_table(sd["sd_diff"], families):
        lines.append(f"To detect 1 point with Holm over {name}, 80% power: {n} paired seeds")
    lines.append(f"The final runs have {len(TORCH_SEEDS)} seeds per arm in PyTorch and {len(OTHER_SEEDS)} more pairs "
                 "in each of TensorFlow and MXNet for the pooled arms.")
    return lines


def limits(table: pd.DataFrame, last: pd.DataFrame, chosen: pd.DataFrame) -> list[str]:
    lines = []
    missing = [a for a in grid.ARM_ORDER if a not in set(chosen["arm"])]
    if missing:
        lines.append(f"The grid is not finished for {len(missing)} arms ({', '.join(missing)}): they have no chosen "
                     "rate and no final runs yet.")
    done = last[last["finished"] & (last["epochs"] == EPOCHS)]
    counts = []
    for fw in ALL:
        for arm in grid.ARM_ORDER:
            want = planned(arm, fw)
            if want:
                have = int(((done["arm"] == arm) & (done["framework"] == fw)).sum())
                if have < want:
                    counts.append(f"{fw_label(fw)} {arm} {have}/{want}")
    lines.append("Final runs finished per arm, of those planned: " + (", ".join(counts) if counts else
                                                                       "every one planned has finished."))
    if not any(int(b) in SHORT_BUDGETS for b in set(last["epochs"])):
        lines.append("No short-budget runs: claim 4 (faster training) cannot be decided; it needs the same arms at "
                     "epochs=5 and epochs=10 in final/.")
    lines.append("The grid chose on 10,000 training images; the final runs train on 60,000 (plateau on 50,000: it "
                 "keeps its validation split), so a chosen rate is a rate tuned at a sixth of the data.")
    lines.append("Two seeds per grid point: a chosen rate within a seed's noise of its neighbour is a coin toss "
                 "between them; the bands show how flat each arm's optimum is.")
    return lines
