"""A series' label: the shortest text that tells its settings apart from the others of its protocol.

The schedule's name when that is enough (``cosine``), its variant when two variants of one schedule
ran (``cosine(T=20, final=0.01)``), plus the optimizer when several ran (``cosine · adam``), plus
any budget setting that differs (``cosine · 5 epochs``). In the d2l protocol a setting that each
framework's tab fixes on its own (TensorFlow's tab has its own network) is not part of the label:
the tabs are meant to differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.report.load import dataset_title, params_of
from harness.report.run_table import CONTEXT_KEYS, OPTIMIZER_KEYS, SCHEDULE_KEYS, plain_value
from harness.report.style import SCHEDULE_ORDER


@dataclass(frozen=True)
class Series:
    """One row of the report: a label unique in its protocol and what it stands for."""

    label: str
    scheduler: str
    kind: str
    optimizer: str
    family: str


def _fmt_setting(col: str, v) -> str:
    if v is None:
        return f"{col} unknown"
    if col == "dataset":
        return dataset_title(v)
    if col == "epochs_planned":
        return f"{v} epoch{'s' if v != 1 else ''}"
    if col == "train_size":
        return f"{v:,} train images"
    if col == "test_size":
        return f"{v:,} test images"
    if col == "batch_size":
        return f"batch {v}"
    if col == "model":
        return f"model {v}"
    if col == "model_hash":
        return f"network {str(v)[:8]}"
    return f"{col}={v}"


def _optimizer_text(name: str, params: str | None) -> str:
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params_of(params).items())
    return f"{name}({shown})" if shown else name


def label_series(pruns: pd.DataFrame, protocol: str) -> pd.Series:
    """A label per run (indexed like ``pruns``): equal labels within a framework mean equal settings."""
    if pruns.empty:
        return pd.Series([], dtype=object)
    sched = [tuple(plain_value(v) for v in r) for r in pruns[SCHEDULE_KEYS].itertuples(index=False)]
    # one label text per schedule setting (the first, sorted, where writers spelled it differently)
    variant_of: dict[tuple, str] = {}
    for key, v in sorted(zip(sched, pruns.variant), key=lambda kv: (str(kv[0]), str(kv[1]))):
        variant_of.setdefault(key, v if isinstance(v, str) and v else key[0])
    opt = [tuple(plain_value(v) for v in r) for r in pruns[OPTIMIZER_KEYS].itertuples(index=False)]
    frameworks = list(pruns.framework)

    def framework_fixed(values: list, among: list[bool] | None = None) -> bool:
        """d2l protocol only: each framework's tab has one value of its own."""
        if protocol != "d2l":
            return False
        seen: dict[str, set] = {}
        for fw, v, keep in zip(frameworks, values, among or [True] * len(values)):
            if keep:
                seen.setdefault(fw, set()).add(v)
        return all(len(s) == 1 for s in seen.values())

    parts: list[list[str]] = [[] for _ in range(len(pruns))]
    # the schedule: its name, or its variant where one name ran several variants
    names = list(pruns.scheduler)
    for name in sorted(set(names)):
        mine = [n == name for n in names]
        distinct = {s for s, m in zip(sched, mine) if m}
        if len(distinct) == 1 or framework_fixed(sched, mine):
            for i, m in enumerate(mine):
                if m:
                    parts[i].append(name)
            continue
        variants = {variant_of[d] for d in distinct}
        for i, m in enumerate(mine):
            if not m:
                continue
            s = sched[i]
            text = variant_of[s]
            if len(variants) < len(distinct):  # same variant text, other settings: say which
                same_text = [d for d in distinct if variant_of[d] == text]
                if len({d[2] for d in same_text}) > 1:
                    text += f", lr={s[2]:g}"
                if len({d[3] for d in same_text}) > 1:
                    text += f", per {s[3]}"
            parts[i].append(text)
    # the optimizer, where several ran: on every series of a schedule that ran with several, and
    # on any series that did not use the most common one (the inventory names it for the rest)
    if len(set(opt)) > 1 and not framework_fixed(opt):
        by_name: dict[str, set] = {}
        for o in opt:
            by_name.setdefault(o[0], set()).add(o)
        counts: dict[tuple, int] = {}
        for o in opt:
            counts[o] = counts.get(o, 0) + 1
        main = sorted(counts, key=lambda o: (-counts[o], str(o)))[0]
        per_schedule: dict[str, set] = {}
        for n, o in zip(names, opt):
            per_schedule.setdefault(n, set()).add(o)
        for i, o in enumerate(opt):
            if o != main or len(per_schedule[names[i]]) > 1:
                parts[i].append(o[0] if len(by_name[o[0]]) == 1 else _optimizer_text(*o))
    # any budget or network setting that differs, as one part: "5 epochs, 2,560/1,000 images"
    budget: list[list[str]] = [[] for _ in range(len(pruns))]
    differing = [col for col in CONTEXT_KEYS
                 if len(set(v := [plain_value(x) for x in pruns[col]])) > 1 and not framework_fixed(v)]
    for i, r in enumerate(pruns[CONTEXT_KEYS].itertuples(index=False)):
        row = dict(zip(CONTEXT_KEYS, (plain_value(v) for v in r)))
        for col in differing:
            if col == "test_size" and "train_size" in differing:
                continue
            if col == "train_size" or (col == "test_size"):
                budget[i].append(f"{row['train_size']:,}/{row['test_size']:,} images")
            else:
                budget[i].append(_fmt_setting(col, row[col]))
    for i, b in enumerate(budget):
        if b:
            parts[i].append(", ".join(b))
    labels = [" · ".join(p) for p in parts]
    # a label must never stand for two settings within a framework: number what is left
    keys = list(pruns.settings_key)
    seen: dict[tuple[str, str], list[str]] = {}
    for fw, label, key in zip(frameworks, labels, keys):
        seen.setdefault((fw, label), [])
        if key not in seen[(fw, label)]:
            seen[(fw, label)].append(key)
    out = []
    for fw, label, key in zip(frameworks, labels, keys):
        clash = seen[(fw, label)]
        out.append(label if len(clash) == 1 else f"{label} #{clash.index(key) + 1}")
    return pd.Series(out, index=pruns.index, dtype=object)


def series_order(series: list[Series]) -> list[Series]:
    def key(s: Series):
        pos = SCHEDULE_ORDER.index(s.scheduler) if s.scheduler in SCHEDULE_ORDER else len(SCHEDULE_ORDER)
        return (pos, s.scheduler, s.label)

    return sorted(series, key=key)
