"""``python -m harness.studies.report [STUDY_DIR]``: the guideline study's report (issue 22).

Reads STUDY_DIR/tuning and STUDY_DIR/final (parquet only, no framework) and writes
STUDY_DIR/_report/index.html (self-contained: the PNGs embedded) and report.md beside its PNGs.
It works on a study at any stage: every section says what is missing, and a claim whose
comparisons lack runs is "not decidable" with what it would need.

The claims are tested on the final runs' last-epoch test accuracy, each arm at the rate its grid
chose on validation, as paired differences (same framework and seed: same initial weights and
batch order), with harness.report.stats: each claim declares its family of comparisons, and
Holm's step-down correction runs over that family on scipy's p-values; each interval is at its
Holm step's level. A comparison supports a claim only if its corrected interval clears the
smallest effect (``SMALLEST_EFFECT``) in the claimed direction.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.findings import join_words, pct, pp
from harness.report.load import FRAMEWORK_ORDER, fw_label
from harness.report.render import CSS, _inline_md, _staging, _write_if_changed
from harness.report.style import swatch_svg
from harness.studies import grid
from harness.studies.arms import ALL, ARMS, EPOCHS, GRID_SEEDS, OTHER_SEEDS, STUDY_DIR, TORCH_SEEDS

OUT = "_report"
SHORT_BUDGETS = (5, 10)  # epochs of the short-budget runs claim 4 needs (same arms, in final/)
STANDARD = ("constant", "step", "cosine")  # what a reader would otherwise use
OTHERS = ("constant", "exponential", "sqrt", "warmup_linear", "wsd", "onecycle", "cyclic", "plateau")  # claim 2
SUPPORTED, CONTRADICTED, UNDECIDED = "supported", "contradicted", "not decidable at this budget"
CSS_EXTRA = """
table.claims td { white-space: normal; vertical-align: top; }
td.verdict { font-weight: 600; white-space: nowrap; }
td.v-supported { color: #00734d; } td.v-contradicted { color: #BE0032; } td.v-undecided { color: #8a6d00; }
"""


# ------------------------------------------------------------------------------- final runs


def final_values(last: pd.DataFrame, arm: str, budget: int = EPOCHS, metric: str = "test") -> dict[tuple, float]:
    """(framework, seed) -> the metric, for the arm's finished final runs of that budget."""
    g = last[(last["arm"] == arm) & (last["epochs"] == budget) & last["finished"]]
    return {(str(f), int(s)): float(v) for f, s, v in zip(g["framework"], g["seed"], g[metric])}


@dataclass
class Test:
    """One comparison of a claim's family: a - b, the claimed direction, and its result."""

    a: str
    b: str
    direction: str  # "better": a > b by the smallest effect; "not worse": a > b - smallest effect
    keys: list = field(default_factory=list)
    result: object = None  # stats.Comparison, None without two paired seeds
    per_framework: dict = field(default_factory=dict)  # framework -> mean difference
    disagree_p: float | None = None  # one-way ANOVA of the differences by framework

    @property
    def verdict(self) -> str:
        from harness.report.stats import SMALLEST_EFFECT as d

        r = self.result
        if r is None:
            return UNDECIDED
        if self.direction == "better":
            if r.ci_low > d:
                return SUPPORTED
            if r.ci_high < 0 or (r.ci_low > -d and r.ci_high < d):
                return CONTRADICTED
            return UNDECIDED
        if r.ci_low > -d:
            return SUPPORTED
        return CONTRADICTED if r.ci_high < -d else UNDECIDED

    def text(self) -> str:
        if self.result is None:
            return f"{self.a} − {self.b}: fewer than two paired runs"
        r = self.result
        where = "pooled over " + join_words([fw_label(f) for f in self.per_framework]) if len(self.per_framework) > 1 \
            else fw_label(next(iter(self.per_framework), "torch"))
        s = (f"{self.a} − {self.b} {pp(r.mean_diff, 2)} [{pp(r.ci_low, 2)}, {pp(r.ci_high, 2)}], n={r.n} ({where})")
        if self.disagree_p is not None and self.disagree_p < 0.05:
            s += (" ⚠ the frameworks disagree (" + ", ".join(f"{fw_label(f)} {pp(v, 2)}" for f, v in
                                                         self.per_framework.items()) + f"; ANOVA p={self.disagree_p:.2g})")
        return s


def run_family(last: pd.DataFrame, tests: list[Test], budget: int = EPOCHS) -> list[Test]:
    """Pair each test's arms by (framework, seed) and apply Holm over the tests that have runs."""
    from harness.report.stats import holm_comparisons

    ready = []
    for t in tests:
        va, vb = final_values(last, t.a, budget), final_values(last, t.b, budget)
        t.keys = sorted(set(va) & set(vb), key=lambda k: (FRAMEWORK_ORDER.index(k[0]) if k[0] in FRAMEWORK_ORDER
                                                            else 9, k[1]))
        if len(t.keys) < 2:
            continue
        diffs: dict[str, list[float]] = {}
        for k in t.keys:
            diffs.setdefault(k[0], []).append(va[k] - vb[k])
        t.per_framework = {f: float(np.mean(v)) for f, v in diffs.items()}
        groups = [v for v in diffs.values() if len(v) >= 2]
        if len(groups) > 1 and np.ptp(np.concatenate(groups)) > 0:
            from scipy.stats import f_oneway

            with warnings.catch_warnings():  # a framework whose differences are all equal: scipy warns, p stands
                warnings.simplefilter("ignore")
                p = float(f_oneway(*groups).pvalue)
            t.disagree_p = p if math.isfinite(p) else None
        ready.append((t, np.array([va[k] for k in t.keys]), np.array([vb[k] for k in t.keys])))
    if ready:
        for (t, _, _), c in zip(ready, holm_comparisons([(a, b) for _, a, b in ready])):
            t.result = c
    return tests


def combine(verdicts: list[str], mode: str) -> str:
    """``all``: every test must support the claim, one contradiction refutes it; ``any``: one
    supporting test is enough, and only contradictions in all refute it."""
    if not verdicts:
        return UNDECIDED
    if mode == "all":
        return CONTRADICTED if CONTRADICTED in verdicts else SUPPORTED if all(v == SUPPORTED for v in verdicts) \
            else UNDECIDED
    return SUPPORTED if SUPPORTED in verdicts else CONTRADICTED if all(v == CONTRADICTED for v in verdicts) \
        else UNDECIDED


@dataclass
class Claim:
    number: str
    claim: str
    question: str
    family: str  # the comparisons, declared
    verdict: str
    evidence: list[str]
    tests: list = field(default_factory=list)


def _family_note(tests: list[Test], declared: int) -> tuple[str, bool]:
    have = sum(t.result is not None for t in tests)
    if have == declared:
        return f"Holm over {declared}", True
    if have == 0:
        return f"Holm over {declared}; none has runs yet", False
    return f"Holm over the {have} of {declared} with runs; verdict withheld", False


def _detectable(tests: list[Test]) -> str:
    vals = [t.result.detectable for t in tests
            if t.result is not None and t.result.detectable is not None and math.isfinite(t.result.detectable)]
    return f"; the smallest difference these runs could detect: {pp(max(vals), 2)}" if vals else ""


MARK = {SUPPORTED: "✓", CONTRADICTED: "✗", UNDECIDED: "?"}


def evidence_lines(tests: list[Test]) -> list[str]:
    """One line per comparison with runs (✓ supports, ✗ contradicts, ? undecided), then one line
    naming the comparisons that have no paired runs yet."""
    lines = [f"{MARK[t.verdict]} {t.text()}" for t in tests if t.result is not None]
    missing = [f"{t.a} − {t.b}" for t in tests if t.result is None]
    if missing:
        lines.append("no paired final runs yet: " + ", ".join(missing))
    return lines


def _tested_claim(number, claim, question, family, tests, mode, declared, extra=()) -> Claim:
    note, complete = _family_note(tests, declared)
    verdict = combine([t.verdict for t in tests], mode) if complete else UNDECIDED
    evidence = evidence_lines(tests) + list(extra)
    if verdict == UNDECIDED and any(t.result is not None for t in tests):
        evidence.append("not decidable: " + ("the family is incomplete" if not complete else
                                             "an interval straddles the smallest effect") + _detectable(tests))
    return Claim(number, claim, question, f"{family} ({note})", verdict, evidence, list(tests))


def claims(last: pd.DataFrame, table: pd.DataFrame, chosen: pd.DataFrame, band: pd.DataFrame) -> list[Claim]:
    from harness.report.stats import SMALLEST_EFFECT

    out = []
    # 1. the challenger is chosen on validation (the grid), never on the test set it is judged on
    sgd = chosen[~chosen["arm"].isin(["constant", "step"]) & ~chosen["arm"].str.endswith("+adam")]
    sgd = sgd.sort_values(["val_acc", "rate"], ascending=[False, True], kind="mergesort")
    if len(sgd):
        best = str(sgd["arm"].iloc[0])
        among = len(sgd)
        pending = sum(not a.label.endswith("+adam") for a in ARMS) - 2 - among
        tests = run_family(last, [Test("constant", best, "not worse"), Test("step", best, "not worse")])
        out.append(_tested_claim(
            "1", "Small models: a fixed rate or step decay is simple and effective",
            f"Is the best other SGD schedule on validation ({best}"
            + (f", among the {among} whose grid is finished; {pending} pending" if pending else "")
            + f") more than {pp(SMALLEST_EFFECT, 1)} better than a tuned constant rate or a tuned step decay? "
            "Supported if constant or step is within the smallest effect.",
            "constant − best, step − best", tests, "any", 2))
    else:
        out.append(Claim("1", "Small models: a fixed rate or step decay is simple and effective",
                         "Is the best schedule meaningfully better than a tuned constant rate or step decay?",
                         "constant − best, step − best", UNDECIDED, ["no arm besides constant and step has a finished "
                                                                      "grid yet: no challenger to choose"]))
    # 2. step and cosine against every schedule outside their families, one Holm family of 16
    tests = run_family(last, [Test(a, b, "better") for a in ("step", "cosine") for b in OTHERS])
    for i, a in enumerate(("step", "cosine")):
        mine = tests[i * len(OTHERS):(i + 1) * len(OTHERS)]
        c = _tested_claim(f"2{'ab'[i]}", "Computer vision: step decay or cosine annealing is standard practice",
                          f"Does {a} beat each schedule outside the step-wise and cosine families "
                          f"({', '.join(OTHERS)})?", "step − other, cosine − other",
                          mine, "all", len(OTHERS))
        note, complete = _family_note(tests, 2 * len(OTHERS))
        c.family = f"step − other, cosine − other, one family ({note})"
        if not complete:
            c.verdict = UNDECIDED
        out.append(c)
    # 3. does warmup help once the rate is tuned: the same schedule with and without a warmup
    failures = {a: int(table.loc[table["arm"] == a, ["diverged", "never_learned", "collapsed"]].to_numpy().sum())
                for a in ("cosine", "warmup", "warmup_linear")}
    stability = ("stability on the grid: seeds that failed over the 6 rates: " +
                 ", ".join(f"{a} {k}" for a, k in failures.items()))
    tests = run_family(last, [Test("warmup", "cosine", "better"), Test("warmup_linear", "cosine", "better")])
    out.append(_tested_claim(
        "3a", "Warmup + cosine gives stability and good convergence",
        "Does a 5-epoch warmup before the cosine decay help, each at its tuned rate? warmup − cosine: the same "
        "cosine to 0, with and without the warmup.", "warmup − cosine, warmup_linear − cosine", tests[:1], "all", 1,
        [stability]))
    out[-1].family = "warmup − cosine, warmup_linear − cosine (" + _family_note(tests, 2)[0] + ")"
    out.append(_tested_claim(
        "3b", "Warmup + linear decay",
        "Does warmup + linear decay beat the schedule without warmup nearest to it? There is no plain linear-decay "
        "arm; cosine to 0 over the same 30 epochs has the same start, end and mean rate (half the peak) as a linear "
        "decay to 0, so warmup_linear − cosine.", "warmup − cosine, warmup_linear − cosine", tests[1:], "all", 1))
    out[-1].family = out[-2].family
    if _family_note(tests, 2)[1] is False:
        out[-1].verdict = out[-2].verdict = UNDECIDED
    # 4. super-convergence, at a short budget if the lead ran one. One family per arm and budget:
    # "one-cycle trains faster" and "cyclic rates train faster" are two claims of the guides.
    short = sorted(int(b) for b in set(last.loc[last["finished"], "epochs"]) if int(b) in SHORT_BUDGETS)
    long_text = ("30 epochs, for reference (not a short budget: these schedules' shapes span all 30 epochs, so "
                 "epochs 5 and 10 of these runs are mid-schedule, not a short run):")
    for i, a in enumerate(("onecycle", "cyclic")):
        long_tests = run_family(last, [Test(a, b, "better") for b in STANDARD])
        reference = [long_text] + evidence_lines(long_tests)
        title = "Cyclic rates / one-cycle train faster (super-convergence)"
        family = f"{a} − constant, step, cosine (Holm over 3 per budget)"
        if not short:
            out.append(Claim(f"4{'ab'[i]}", title, f"At a short budget, is {a} better than each of constant, step and "
                             "cosine?", family, UNDECIDED, ["no short-budget runs (epochs=5 or 10 in final/): the "
                                                            "short budget is not measured"] + reference, long_tests))
            continue
        verdicts, evidence, tested = [], [], []
        for budget in short:
            tests = run_family(last, [Test(a, b, "better") for b in STANDARD], budget)
            complete = all(t.result is not None for t in tests)
            verdicts.append(combine([t.verdict for t in tests], "all") if complete else UNDECIDED)
            evidence += [f"{budget} epochs: {line}" for line in evidence_lines(tests)]
            tested += tests
        # faster means better at some short budget; a budget without its runs decides nothing
        verdict = combine(verdicts, "any")
        out.append(Claim(f"4{'ab'[i]}", title, f"At a short budget ({', '.join(map(str, short))} epochs), is {a} "
                         "better than each of constant, step and cosine at one of them?", family, verdict,
                         evidence + reference, tested))
    # 5. plateau against the tuned fixed schedules (it trains on 50,000 images: it keeps its split)
    tests = run_family(last, [Test("plateau", b, "not worse") for b in STANDARD])
    out.append(_tested_claim(
        "5", "Reduce-on-plateau adapts without a schedule",
        "Is plateau, at its tuned rate, within the smallest effect of each tuned fixed schedule (constant, step, "
        "cosine)? It trains on 50,000 images (10,000 kept to monitor), the others on 60,000.",
        "plateau − constant, step, cosine", tests, "all", 3))
    # 6. Adam's band of good rates against SGD's, from the grid
    for i, (s, a) in enumerate((("constant", "constant+adam"), ("cosine", "cosine+adam"))):
        out.append(band_claim(f"6{'ab'[i]}", s, a, band))
    return out


GRID_STEP = 0.45  # decades: the grid's rates are 1, 3, 10, ...: one step is 0.48 or 0.52 decades


def _band_text(row) -> str:
    lo = "≤" if row["censored_low"] else ""
    hi = "≥" if row["censored_high"] else ""
    return (f"{row['arm']}: {row['low']:g}–{row['high']:g} ({row['decades']:.2f} decades on the grid; "
            f"interpolated {lo}{row['interp_low']:.2g}–{hi}{row['interp_high']:.2g}, {row['interp_decades']:.2f}); "
            "each seed alone: " + ", ".join(f"{v:.2f}" for v in row["seed_decades"].values()))


def band_claim(number: str, sgd: str, adam: str, band: pd.DataFrame) -> Claim:
    claim, question = ("Adam needs less tuning than SGD",
                       f"Is the band of base rates within 1 point of the best validation accuracy wider for {adam} "
                       f"than for {sgd} (SGD, momentum 0.9)? Supported if wider by at least one grid step (half a "
                       "decade) in the mean over seeds and in each seed alone; contradicted if narrower by that much.")
    family = "band widths from the grid (not a test: two seeds per rate)"
    rows = {r["arm"]: r for _, r in band.iterrows()} if len(band) else {}
    if sgd not in rows or adam not in rows:
        missing = [x for x in (sgd, adam) if x not in rows]
        return Claim(number, claim, question, family, UNDECIDED, [f"grid not finished for {join_words(missing)}"])
    s, a = rows[sgd], rows[adam]
    diffs = [a["decades"] - s["decades"]] + [a["seed_decades"][k] - s["seed_decades"][k]
                                             for k in sorted(set(a["seed_decades"]) & set(s["seed_decades"]))]
    if all(d >= GRID_STEP for d in diffs) and not s["censored_low"] and not s["censored_high"]:
        verdict = SUPPORTED
    elif all(d <= -GRID_STEP for d in diffs) and not a["censored_low"] and not a["censored_high"]:
        verdict = CONTRADICTED
    else:
        verdict = UNDECIDED
    evidence = [_band_text(s), _band_text(a),
                f"{adam} − {sgd}: {diffs[0]:+.2f} decades (mean), " + ", ".join(f"{d:+.2f}" for d in diffs[1:])
                + " (each seed)"]
    if s["censored_low"] or s["censored_high"] or a["censored_low"] or a["censored_high"]:
        evidence.append("≤/≥: the band reaches the grid's end and may be wider")
    return Claim(number, claim, question, family, verdict, evidence)


# ---------------------------------------------------------------------------------- tables


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


def planned(arm: str, framework: str) -> int:
    a = grid.ARM_OF[arm]
    if framework not in a.frameworks:
        return 0
    return len(TORCH_SEEDS) if framework == "torch" else len(OTHER_SEEDS)


def ranking(last: pd.DataFrame, framework: str, chosen: pd.DataFrame) -> list[dict]:
    from harness.report.stats import success_rate

    rates = dict(zip(chosen["arm"], chosen["rate"]))
    rows = []
    for arm in grid.ARM_ORDER:
        if planned(arm, framework) == 0:
            continue
        g = last[(last["arm"] == arm) & (last["framework"] == framework) & (last["epochs"] == EPOCHS)]
        done = g[g["finished"]]
        ok = int((~done["failed"]).sum())
        rate, low, high = success_rate(ok, len(done)) if len(done) else (None, None, None)
        rows.append({"arm": arm, "rate": f"{rates[arm]:g}" if arm in rates else "grid not finished",
                     "_mean": float(done["test"].mean()) if len(done) else -1.0,
                     "runs": f"{len(done)} of {planned(arm, framework)}" + (f" (+{len(g) - len(done)} running)"
                                                                          if len(g) > len(done) else ""),
                     "success": "—" if rate is None else f"{ok}/{len(done)} [{100 * low:.0f}–{100 * high:.0f}%]",
                     "final": _acc(done["test"].to_numpy()), "last5": _acc(done["test_last5"].to_numpy()),
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


# -------------------------------------------------------------------------------- documents


class Doc:
    """The report as blocks, written twice: Markdown and HTML."""

    def __init__(self, styles: dict):
        self.md: list[str] = []
        self.html: list[str] = []
        self.styles = styles

    def h(self, level: int, text: str) -> None:
        self.md += ["#" * level + " " + text, ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str, cls: str = "") -> None:
        self.md += [text, ""]
        self.html.append(f'<p class="{cls}">{_inline_md(text)}</p>' if cls else f"<p>{_inline_md(text)}</p>")

    def ul(self, items: list[str]) -> None:
        self.md += [f"- {x}" for x in items] + [""]
        self.html.append('<ul class="findings">' + "".join(f"<li>{_inline_md(x)}</li>" for x in items) + "</ul>")

    def table(self, cols, rows, cls: str = "results", cell_class=None) -> None:
        self.md.append("| " + " | ".join(h for _, h, _ in cols) + " |")
        self.md.append("|" + "|".join("---:" if n else ":---" for _, _, n in cols) + "|")
        self.md += ["| " + " | ".join(str(r[k]).replace("|", "\\|").replace("\n", "<br>") for k, _, _ in cols) + " |"
                    for r in rows] + [""]
        head = "".join(f'<th class="{"num" if n else "txt"}">{html.escape(h)}</th>' for _, h, n in cols)
        body = []
        for r in rows:
            cells = []
            for k, _, n in cols:
                value = "<br>".join(_inline_md(part) for part in str(r[k]).split("\n"))
                if k == "arm" and r[k] in self.styles:
                    value = swatch_svg(self.styles[r[k]]) + value
                extra = cell_class(k, r) if cell_class else ""
                cells.append(f'<td class="{"num" if n else "txt"} {extra}">{value}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.html.append(f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
                         f'<tbody>{"".join(body)}</tbody></table></div>')

    def figure(self, path: Path, alt: str, caption: str) -> None:
        self.md += [f"![{alt}]({path.name})", "", f"_{caption}_", ""]
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _curves(final: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per (framework, arm, epoch) over the finished 30-epoch runs: mean, min, max."""
    runs = grid.last_rows(final)
    done = set(runs.loc[runs["finished"] & (runs["epochs"] == EPOCHS), "run_id"])
    g = final[final["run_id"].isin(done)]
    if g.empty:
        return pd.DataFrame(columns=["framework", "label", "metric", "epoch", "mean", "lo", "hi"])
    out = (g.groupby(["framework", "arm", "epoch"]).test_acc.agg(mean="mean", lo="min", hi="max").reset_index()
           .rename(columns={"arm": "label"}))
    out["metric"] = "test_acc"
    return out


def framework_sentence(found: list[Claim]) -> str:
    """Whether the frameworks agree on the comparisons pooled over them."""
    pooled = {(t.a, t.b): t for c in found for t in c.tests if t.result is not None and len(t.per_framework) > 1}
    if not pooled:
        return "Frameworks: no comparison has runs in more than one framework yet."
    split = [t for t in pooled.values() if t.disagree_p is not None and t.disagree_p < 0.05]
    if not split:
        return (f"Frameworks: on the {len(pooled)} comparisons pooled over frameworks, the paired differences do not "
                "differ between frameworks (one-way ANOVA by framework, p ≥ 0.05 each).")
    return ("Frameworks: ⚠ they disagree on " + join_words([f"{t.a} − {t.b} (p={t.disagree_p:.2g})" for t in split])
            + f" of the {len(pooled)} pooled comparisons (one-way ANOVA of the paired differences by framework); the "
            "pooled verdict there averages over a framework effect.")


def headline(last: pd.DataFrame, found: list[Claim]) -> str:
    done = last[last["finished"] & (last["epochs"] == EPOCHS) & (last["framework"] == "torch")]
    which = {v: [c.number for c in found if c.verdict == v] for v in (SUPPORTED, CONTRADICTED, UNDECIDED)}
    tally = "; ".join(f"{v} {len(n)}" + (f" ({', '.join(n)})" if n and v != UNDECIDED else "")
                      for v, n in which.items())
    if done.empty:
        return f"No final run has finished yet: the claims cannot be tested ({tally}). The tuning grid is below."
    means = done.groupby("arm")["test"].mean().sort_values(ascending=False, kind="mergesort")
    top = means.index[0]
    n = int((done["arm"] == top).sum())
    failed = int(done.loc[done["arm"] == top, "failed"].sum())
    text = (f"In PyTorch, {top} has the highest mean final test accuracy, {pct(means.iloc[0], 2)} over {n} seed"
            f"{'s' if n != 1 else ''}")
    if failed:
        text += f" — but {failed} of its {n} seeds diverged, never learned or collapsed"
    if len(means) > 1:
        text += f"; next {means.index[1]} {pct(means.iloc[1], 2)}"
    return text + f". Of the guides' claims: {tally}."


def build(study_dir: Path | str = STUDY_DIR, out: Path | None = None) -> Path:
    """Write the report; return the path of index.html."""
    study = Path(study_dir)
    out = out or study / OUT
    out.mkdir(parents=True, exist_ok=True)
    tuning = grid.load_grid(study / "tuning")
    final = grid.read_runs(study / "final")
    final = final[final["arm"].notna()]
    table = grid.grid_table(tuning)
    chosen = grid.study_choice(table) if len(table) else pd.DataFrame(columns=["arm", "rate", "val_acc", "n"])
    complete = list(chosen["arm"])
    band = grid.bands(table, complete)
    last = grid.last_rows(final)
    labels = [a for a in grid.ARM_ORDER]
    styles = grid.arm_styles(labels)
    found = claims(last, table, chosen, band)

    doc = Doc(styles)
    title = "The guides' learning-rate schedule advice, tested: LeNet on Fashion-MNIST"
    doc.md += [f"# {title}", ""]
    doc.html.append(f"<h1>{html.escape(title)}</h1>")
    doc.p(headline(last, found), "headline")
    n_final = int(last["finished"].sum())
    doc.p(f"{table['n'].sum() if len(table) else 0} finished grid runs in {study / 'tuning'}, {n_final} finished final "
          f"runs in {study / 'final'}; {len(complete)} of {len(ARMS)} arms have a finished grid.", "meta")

    from harness.report.stats import SMALLEST_EFFECT

    doc.h(2, "The guides' advice, tested")
    doc.p(f"Each claim is tested on the final runs' last-epoch test accuracy, every schedule at the rate its own grid "
          f"chose on validation, as differences paired by framework and seed. A claim is supported only if its "
          f"interval clears the smallest effect ({pp(SMALLEST_EFFECT, 1)}) in the claimed direction, contradicted if it "
          f"shows the opposite (or no difference where the claim says better), else not decidable. Holm's step-down "
          f"correction is applied over each claim's declared family of comparisons on scipy's p-values, and every "
          f"interval is at its Holm step's level. Arms run in all three frameworks are pooled with the framework as a "
          f"block (pairs within a framework); ⚠ marks a comparison whose frameworks disagree.", "notes")
    rows = [{"n": c.number, "claim": f"**{c.claim}**\n{c.question}", "family": c.family,
             "evidence": "\n".join(c.evidence), "verdict": c.verdict} for c in found]
    doc.p("In the evidence: a − b, the mean paired difference [its Holm-level interval], n pairs; ✓ the comparison "
          "supports the claim, ✗ it contradicts it, ? undecided.", "notes")

    def verdict_class(key, row):
        if key != "verdict":
            return ""
        return "verdict " + {SUPPORTED: "v-supported", CONTRADICTED: "v-contradicted"}.get(row["verdict"], "v-undecided")

    doc.table([("n", "#", False), ("claim", "claim and question", False), ("verdict", "verdict", False),
               ("evidence", "evidence", False), ("family", "family of comparisons", False)], rows, "results claims",
              verdict_class)
    doc.p(framework_sentence(found), "notes")

    doc.h(2, "Ranking of the final runs")
    for framework in [f for f in FRAMEWORK_ORDER if f in ALL]:
        rows = ranking(last, framework, chosen)
        if not rows:
            continue
        doc.h(3, fw_label(framework) + (" (every arm, 10 seeds)" if framework == "torch" else
                                        " (the five arms run in every framework, 3 seeds)"))
        doc.table(RANK_COLS, rows)
    agreement = rank_agreement_lines(last)
    doc.p("Rank agreement across frameworks (Spearman's ρ over the arms both ran, exact p): " + agreement, "notes")
    doc.p("Learned: finished runs whose verdict is not diverged, never learned or collapsed, with an exact (Clopper–"
          "Pearson) binomial interval. A diverged run counts at chance (10%) in every mean. Mean of last 5 epochs: "
          "each run's test accuracy averaged over its last five epochs, then over seeds (less noisy than one epoch).",
          "notes")

    with _staging(out) as stage:
        names = []
        curves = _curves(final)
        if not curves.empty:
            from harness.report.figures import plot_test_accuracy_by_family

            frameworks = [f for f in FRAMEWORK_ORDER if f in set(curves["framework"])]
            groups = [(fam, m) for fam, m in grid.grouped(labels) if set(m) & set(curves["label"])]
            plot_test_accuracy_by_family(curves, frameworks, {f: fw_label(f) for f in frameworks}, groups,
                                         ["constant"], styles, set(),
                                         "Final runs: test accuracy per epoch, by family", stage / "curves.png")
            doc.figure(stage / "curves.png", "test accuracy curves of the final runs",
                       "Test accuracy after each epoch of the finished 30-epoch final runs: mean over seeds, band from "
                       "lowest to highest seed; the constant rate thin in every other panel.")
            names.append("curves.png")
        doc.h(2, "The tuning grid and the chosen rates")
        if len(table):
            grid.grid_figure(table, chosen, stage / "grid.png", styles)
            doc.figure(stage / "grid.png", "the tuning grid", "Final validation accuracy (30 epochs on 10,000 "
                       "images, validated on 10,000 others) against the base rate; the chosen rate of each arm with a "
                       "finished grid starred. Nothing here read a test set.")
            names.append("grid.png")
        doc.table([("arm", "schedule", False), ("rate", "chosen rate", True), ("val", "val acc (mean of 2 seeds)", True),
                   ("band", "within 1 point of the best", False), ("fails", "failed seeds in the grid", True)],
                  chosen_rows(table, chosen, band))
        doc.h(2, "Seeds needed")
        doc.ul(seeds_lines(table))
        doc.h(2, "What this study can and cannot decide")
        doc.ul(limits(table, last, chosen))
        for name in names:
            _write_if_changed(out / name, (stage / name).read_bytes())
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}{CSS_EXTRA}</style></head>"
            f"<body><main>{''.join(doc.html)}</main></body></html>\n")
    _write_if_changed(out / "index.html", page.encode("utf-8"))
    _write_if_changed(out / "report.md", "\n".join(doc.md).encode("utf-8"))
    return out / "index.html"


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
                         "band": _band_text(b).split(": ", 1)[1] if b is not None else "—", "fails": str(fails)})
        else:
            done = int(g["n"].sum()) if len(g) else 0
            rows.append({"arm": arm, "rate": "—", "val": "—", "band": f"grid not finished: {done} of {want} runs",
                         "fails": str(fails)})
    return rows


def seeds_lines(table: pd.DataFrame) -> list[str]:
    sd = grid.paired_sd(table, grid.ARM_ORDER)
    if sd["sd_diff"] is None:
        return ["Not yet: the grid needs two arms with both seeds finished at a point with no failed seed."]
    # the claims' families (claims() declares them): 1 and 3 have 2 comparisons, 4 (per arm and budget) and 5
    # have 3, 2 has 16
    families = {"one comparison": 1, "2 comparisons (claims 1, 3)": 2, "3 (claims 4, 5)": 3, "16 (claim 2)": 16}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.studies.report", description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", nargs="?", default=STUDY_DIR, type=Path,
                        help=f"the study's folder, holding tuning/ and final/ (default {STUDY_DIR})")
    args = parser.parse_args(argv)
    if not (args.study_dir / "tuning").is_dir() and not (args.study_dir / "final").is_dir():
        print(f"harness.studies.report: error: study_dir={str(args.study_dir)!r} has neither tuning/ nor final/; "
              f"run the study first: python -m harness.studies.guideline tune", file=sys.stderr)
        return 2
    index = build(args.study_dir)
    print(f"harness.studies.report: wrote {index} (and report.md, PNGs beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
