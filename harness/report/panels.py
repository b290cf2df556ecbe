"""What each figure shows, as data (no matplotlib): the per-update rates, the curves over seeds,
the final-accuracy cells, and which series a figure shows when a protocol has too many to overlay
(the constant-rate baseline and the TOP_K best by mean rank; families for small multiples)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.findings import join_words
from harness.report.load import fw_label
from harness.report.rules import counts_in_mean
from harness.report.style import FAMILY_ORDER, MAX_OVERLAID
from harness.report.cells import ProtocolSummary
from harness.report.summary import mean_ranks

TOP_K = 4


def many_series(s: ProtocolSummary) -> bool:
    """More series than overlaid curves can show (style.MAX_OVERLAID): the figures change shape
    (small multiples by family, a families figure, the best few curves) and the tables leave out
    the cells that did not run."""
    return len(s.schedules) > MAX_OVERLAID


def lr_sequences(df: pd.DataFrame, s: ProtocolSummary) -> tuple[dict, dict, dict]:
    """The per-update learning rates of one run per framework × series (the one with the most
    epochs), merged into one panel when every framework has the same sequences.

    Returns ``(rates, epochs, labels)``: ``rates[key][series]`` every update's rate,
    ``epochs[key][series]`` where each update falls in epochs (epoch e's k-th of m updates at
    e + k / m: each run's own updates per epoch, so runs on 10,000 and 60,000 images share one
    epoch axis), ``labels[key]`` the panel's name."""
    seqs: dict[str, dict[str, np.ndarray]] = {}
    xs: dict[str, dict[str, np.ndarray]] = {}
    for fw in s.frameworks:
        seqs[fw], xs[fw] = {}, {}
        for label in s.schedules:
            runs = s.runs[(s.runs.framework == fw) & (s.runs.label == label)]
            if runs.empty:
                continue
            run_id = runs.sort_values(["epochs_done", "seed"], ascending=[False, True]).run_id.iloc[0]
            g = df[df.run_id == run_id].sort_values("epoch")
            per_epoch = [np.asarray(x, dtype=float) for x in g.step_lrs]
            seqs[fw][label] = np.concatenate(per_epoch)
            xs[fw][label] = np.concatenate([e + np.arange(v.size) / max(1, v.size)
                                            for e, v in zip(g.epoch.astype(int), per_epoch)])
    labels = {fw: fw_label(fw) for fw in s.frameworks}

    # Merge when every series that several frameworks ran has the same rates at the same epochs
    # in each (a run still in progress has a prefix of the sequence).
    def agree(fa: str, fb: str, k: str) -> bool:
        n = min(seqs[fa][k].size, seqs[fb][k].size)
        return np.array_equal(seqs[fa][k][:n], seqs[fb][k][:n]) and np.allclose(xs[fa][k][:n], xs[fb][k][:n])

    same = len(s.frameworks) > 1 and all(
        agree(fa, fb, k)
        for i, fa in enumerate(s.frameworks) for fb in s.frameworks[i + 1:]
        for k in set(seqs[fa]) & set(seqs[fb])
    )
    if same:
        merged: dict[str, np.ndarray] = {}
        merged_x: dict[str, np.ndarray] = {}
        for fw in s.frameworks:
            for k, v in seqs[fw].items():
                if k not in merged or v.size > merged[k].size:
                    merged[k], merged_x[k] = v, xs[fw][k]
        key = "+".join(s.frameworks)
        label = "the same in " + join_words([fw_label(f) for f in s.frameworks])
        return {key: merged}, {key: merged_x}, {key: label}
    return seqs, xs, labels


def curve_tables(df: pd.DataFrame, s: ProtocolSummary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and min–max band over complete runs per epoch; the other runs' points as they are."""
    pdf = df[df.protocol == s.protocol].merge(s.runs[["run_id", "label"]], on="run_id")
    metrics = ["train_loss", "train_acc", "test_acc"]
    long = pdf.melt(id_vars=["framework", "label", "run_id", "status", "epoch"], value_vars=metrics,
                    var_name="metric", value_name="value")
    # A failed seed is kept out of the mean and band as it is out of every mean of the tables
    # (harness.report.rules): drawn on its own, one thin line. Which runs failed: their verdict
    # says so (the Verdicts section's word), not a threshold here.
    failed_runs = {rid for rid, v in zip(s.runs.run_id, s.runs.verdict) if not counts_in_mean(v)}
    long.loc[long.run_id.isin(failed_runs) & (long.status == "complete"), "status"] = "never learned"
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
            "n_failed": c.n_failures, "n_seeds": c.n_finished, "show_seeds": bool(e and e.show_seeds),
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


PANEL_SERIES = 6  # at most this many series in one small multiple


def families(s: ProtocolSummary) -> list[tuple[str, list[str]]]:
    """The small multiples: one panel per schedule family; a family of more than PANEL_SERIES
    series (a grid of one schedule over rates or optimizers) is split by optimizer, then into
    panels of at most PANEL_SERIES, so no panel is the spaghetti the split was for."""
    groups: dict[str, list[str]] = {}
    for label in s.schedules:
        groups.setdefault(s.series[label].family, []).append(label)
    ordered = [(f, groups[f]) for f in FAMILY_ORDER if f in groups] + sorted(
        (f, v) for f, v in groups.items() if f not in FAMILY_ORDER)
    out = []
    for fam, members in ordered:
        if len(members) <= PANEL_SERIES:
            out.append((fam, members))
            continue
        by_opt: dict[str, list[str]] = {}
        for m in members:
            by_opt.setdefault(s.series[m].optimizer, []).append(m)
        for opt, part in by_opt.items():
            name = f"{fam} · {opt}" if len(by_opt) > 1 else fam
            # as few panels as hold PANEL_SERIES each, evenly filled (6 + 5 + 5, not 6 + 6 + 4)
            k = -(-len(part) // PANEL_SERIES)
            sizes = [len(part) // k + (i < len(part) % k) for i in range(k)]
            starts = np.cumsum([0] + sizes)
            chunks = [part[a:b] for a, b in zip(starts[:-1], starts[1:])]
            out += [(name if k == 1 else f"{name} ({i + 1} of {k})", c) for i, c in enumerate(chunks)]
    return out
