"""What each figure shows, as data (no matplotlib): the per-update rates, the curves over seeds,
the final-accuracy cells, and which series a figure shows when a protocol has too many to overlay
(the constant-rate baseline and the TOP_K best by mean rank; families for small multiples)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.findings import join_words
from harness.report.load import fw_label
from harness.report.style import FAMILY_ORDER, MAX_OVERLAID
from harness.report.cells import ProtocolSummary
from harness.report.summary import mean_ranks

TOP_K = 4


def lr_sequences(df: pd.DataFrame, s: ProtocolSummary) -> tuple[dict, dict, dict]:
    """The per-update learning rates of one run per framework × series (the one with the most
    epochs), merged into one panel when every framework has the same sequences."""
    seqs: dict[str, dict[str, np.ndarray]] = {}
    spe: dict[str, int] = {}
    for fw in s.frameworks:
        seqs[fw] = {}
        for label in s.schedules:
            runs = s.runs[(s.runs.framework == fw) & (s.runs.label == label)]
            if runs.empty:
                continue
            run_id = runs.sort_values(["epochs_done", "seed"], ascending=[False, True]).run_id.iloc[0]
            g = df[df.run_id == run_id].sort_values("epoch")
            seqs[fw][label] = np.concatenate([np.asarray(x, dtype=float) for x in g.step_lrs])
            spe.setdefault(fw, len(g.step_lrs.iloc[0]))
    labels = {fw: fw_label(fw) for fw in s.frameworks}

    # Merge when every series that several frameworks ran has the same rates in each (a run
    # still in progress has a prefix of the sequence) and the epochs have the same length.
    def agree(a: np.ndarray, b: np.ndarray) -> bool:
        n = min(a.size, b.size)
        return np.array_equal(a[:n], b[:n])

    same = len(s.frameworks) > 1 and len(set(spe.values())) == 1 and all(
        agree(seqs[fa][k], seqs[fb][k])
        for i, fa in enumerate(s.frameworks) for fb in s.frameworks[i + 1:]
        for k in set(seqs[fa]) & set(seqs[fb])
    )
    if same:
        merged: dict[str, np.ndarray] = {}
        for fw in s.frameworks:
            for k, v in seqs[fw].items():
                if k not in merged or v.size > merged[k].size:
                    merged[k] = v
        key = "+".join(s.frameworks)
        label = "the same in " + join_words([fw_label(f) for f in s.frameworks])
        return {key: merged}, {key: next(iter(spe.values()))}, {key: label}
    return seqs, spe, labels


def curve_tables(df: pd.DataFrame, s: ProtocolSummary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and min–max band over complete runs per epoch; the other runs' points as they are."""
    pdf = df[df.protocol == s.protocol].merge(s.runs[["run_id", "label"]], on="run_id")
    metrics = ["train_loss", "train_acc", "test_acc"]
    long = pdf.melt(id_vars=["framework", "label", "run_id", "status", "epoch"], value_vars=metrics,
                    var_name="metric", value_name="value")
    # A run stuck at chance among seeds that learned would drag the mean and stretch the band
    # over the whole panel: it is drawn on its own (the tables keep it in every statistic).
    # which runs are at chance: their verdict says so (the Verdicts section's word), not a threshold here
    at_chance = set(s.runs.run_id[s.runs.verdict.isin(["never_learned", "collapsed"])])
    dead_cells = {(c.framework, c.series) for c in s.cells.values() if c.at_chance}
    in_dead_cell = [(fw, sc) in dead_cells for fw, sc in zip(long.framework, long.label)]
    died = long.run_id.isin(at_chance) & ~pd.Series(in_dead_cell, index=long.index)
    long.loc[died & (long.status == "complete"), "status"] = "never learned"
    done = long[long.status == "complete"]
    curves = (done.groupby(["framework", "label", "metric", "epoch"]).value
              .agg(mean="mean", lo="min", hi="max").reset_index())
    loose = long[long.status != "complete"]
    return curves, loose


def final_cells(s: ProtocolSummary) -> list[dict]:
    out = []
    for (fw, label), c in s.cells.items():
        e = c.final
        interval = e is not None and e.half is not None and not e.show_seeds
        out.append({
            "framework": fw, "scheduler": label, "seeds": list(c.final_by_seed.values()),
            "mean": e.mean if e else None, "low": e.low if interval else None, "high": e.high if interval else None,
            "published": c.published, "label": c.state(), "off_scale": c.at_chance,
            "n_at_chance": c.n_at_chance, "show_seeds": bool(e and e.show_seeds),
            "learned_seeds": [a for seed, a in c.final_by_seed.items()
                              if seed not in c.failures.get("never_learned", []) + c.failures.get("collapsed", [])],
        })
    return out


def shown_series(s: ProtocolSummary) -> list[str]:
    """Every series when they fit in one panel; else the baseline(s) and the TOP_K best by mean rank."""
    if len(s.schedules) <= MAX_OVERLAID:
        return list(s.schedules)
    bases = set(primary_baselines(s))
    best = [label for label, _, m in mean_ranks(s)
            if m is not None and label not in bases
            and any(not s.cell(fw, label).at_chance and s.cell(fw, label).final for fw in s.frameworks)][:TOP_K]
    return [x for x in s.schedules if x in bases or x in best]


def primary_baselines(s: ProtocolSummary) -> list[str]:
    """The constant-rate series of the most common optimizer (one line of reference, not several)."""
    bases = sorted({c.baseline for c in s.cells.values() if c.baseline})
    counts = s.runs.optimizer.value_counts()
    main = counts.index[0] if len(counts) else None
    return [b for b in bases if s.series[b].optimizer == main][:1] or bases[:1]


def families(s: ProtocolSummary) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for label in s.schedules:
        groups.setdefault(s.series[label].family, []).append(label)
    return [(f, groups[f]) for f in FAMILY_ORDER if f in groups] + sorted(
        (f, v) for f, v in groups.items() if f not in FAMILY_ORDER)
