"""The guideline study's claims, each tested on the final runs (or, for Adam's, on the grid).

The claims are tested on the final runs' last-epoch test accuracy, each arm at the rate its grid
chose on validation, as paired differences (same framework and seed: same initial weights and
batch order). Every decision comparison of every claim is one Holm family for the study
(harness.studies.decide: intervals at the level the decision used, the stopping level once Holm
stops; a framework term where frameworks are pooled; the exact signed-rank rule where a seed
failed; the power to reach each verdict), so no comparison appears with two intervals. A
comparison supports a claim only if its interval clears the smallest effect (``SMALLEST_EFFECT``)
in the claimed direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.findings import join_words, pp
from harness.report.load import FRAMEWORK_ORDER, fw_label
from harness.studies.arms import ARMS, EPOCHS, SHORT_BUDGETS

STANDARD = ("constant", "step", "cosine")  # what a reader would otherwise use
OTHERS = ("constant", "exponential", "sqrt", "warmup_linear", "wsd", "onecycle", "cyclic", "plateau")  # claim 2
SUPPORTED, CONTRADICTED, UNDECIDED = "supported", "contradicted", "not decidable at this budget"


# ------------------------------------------------------------------------------- final runs


def final_values(last: pd.DataFrame, arm: str, budget: int = EPOCHS, metric: str = "test") -> dict[tuple, float]:
    """(framework, seed) -> the metric, for the arm's finished final runs of that budget."""
    g = last[(last["arm"] == arm) & (last["epochs"] == budget) & last["finished"]]
    return {(str(f), int(s)): float(v) for f, s, v in zip(g["framework"], g["seed"], g[metric])}


POINTS = 100.0  # the decisions are computed in points of accuracy


@dataclass
class Test:
    """One comparison of the study's family: a - b, the claimed direction, and its decision."""

    a: str
    b: str
    direction: str  # "better": a > b by the smallest effect; "not worse": a > b - smallest effect
    budget: int = EPOCHS  # the runs' epochs: claim 4 compares short-budget runs
    keys: list = field(default_factory=list)
    result: object = None  # decide.Decision, None without two paired seeds
    values: tuple = ({}, {})  # the paired values (points) of a and b, and below which keys failed
    failed: set = field(default_factory=set)

    @property
    def kind(self) -> str:
        return "better" if self.direction == "better" else "not_worse"

    @property
    def claim(self) -> str:
        return f"{self.a}-{self.b}@{self.budget}"

    @property
    def per_framework(self) -> dict:
        """framework -> the mean difference, in accuracy."""
        if self.result is None:
            return {}
        per = self.result.estimate.per_framework
        order = sorted(per, key=lambda f: FRAMEWORK_ORDER.index(f) if f in FRAMEWORK_ORDER else 9)
        return {f: per[f][1] / POINTS for f in order}

    @property
    def disagree_p(self) -> float | None:
        return self.result.disagreement[0] if self.result is not None and self.result.disagreement else None

    @property
    def verdict(self) -> str:
        from harness.studies.decide import CONTRADICTED as C, SUPPORTED as S

        if self.result is None:
            return UNDECIDED
        return {S: SUPPORTED, C: CONTRADICTED}.get(self.result.verdict, UNDECIDED)

    def _per_framework_counts(self) -> list:
        per = self.result.estimate.per_framework
        return [per[f] for f in self.per_framework]

    def reading(self) -> str:
        from harness.report.stats import SMALLEST_EFFECT

        d, eps = self.result, f"{POINTS * SMALLEST_EFFECT:.1f}"
        if self.direction == "better":
            return {SUPPORTED: f"better by more than {eps} pt (superiority)",
                    CONTRADICTED: ("worse: the interval lies below 0" if d.hi < 0 else
                                   f"no difference that matters: the interval lies inside ±{eps} pt")}.get(
                self.verdict, f"undecided: the interval straddles {'+' + eps if d.lo <= float(eps) < d.hi else '0'}")
        return {SUPPORTED: f"not worse by more than {eps} pt (non-inferiority, not equivalence)",
                CONTRADICTED: f"worse by more than {eps} pt"}.get(
            self.verdict, f"undecided for non-inferiority: the interval straddles −{eps} pt")

    def text(self) -> str:
        from harness.report.stats import SMALLEST_EFFECT

        if self.result is None:
            return f"{self.a} − {self.b}: fewer than two paired runs"
        d = self.result
        where = "pooled over " + join_words([fw_label(f) for f in self.per_framework]) + \
            " (the framework a fixed term; pairs weighed by seeds, " + \
            ":".join(str(n) for n, _, _ in self._per_framework_counts()) + ")" if len(self.per_framework) > 1 else \
            fw_label(next(iter(self.per_framework), "torch"))
        level = f"{100 * d.level:.3g} %" + (", Holm stopped" if d.held_at_stop else "")
        s = f"{self.a} − {self.b} {_pt(d.estimate.mean)} pp [{_pt(d.lo)}, {_pt(d.hi)}] at {level}, n={d.estimate.n} ({where}): "
        if d.signed_rank:
            alpha = (1 - d.level) / 2
            s += (f"{d.failed} failed seed{'s' if d.failed > 1 else ''}, so the exact signed-rank test decides, one-sided "
                  f"at {alpha:.2g}: p={d.signed_rank[1]:.2g} for supported, {d.signed_rank[2]:.2g} for contradicted: "
                  f"{self.verdict}" + ("" if self.verdict != UNDECIDED or len(d.extra.get('diffs', ())) > 10 else
                                      f" (with {d.estimate.n} pairs its smallest p is {0.5 ** d.estimate.n:.2g})"))
        else:
            s += self.reading()
        if self.verdict == UNDECIDED and math.isfinite(d.power) and not d.signed_rank:
            seeds = f"{d.seeds_80} seeds" if d.seeds_80 else "no number of seeds (the observed difference is short of it)"
            s += (f"; power to support it at the observed difference {d.power:.2f}; 80 % needs a true difference of "
                  f"{_pt(d.diff_80)} pp at these seeds, or {seeds}")
        if len(self.per_framework) > 1:
            per = ", ".join(f"{fw_label(f)} {_pt(POINTS * v)}" for f, v in self.per_framework.items())
            if d.disagreement:
                p, power = d.disagreement
                s += (f" ⚠ the frameworks disagree ({per}; ANOVA p={p:.2g})" if p < 0.05 else
                      f"; per framework {per}: no disagreement detected (ANOVA p={p:.2g}, power {power:.2f} for a "
                      f"{2 * POINTS * SMALLEST_EFFECT:.1f}-pt shift of one framework)")
        return s


def _pt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.2f}".replace("-", "−")


def failed_runs(last: pd.DataFrame, arm: str, budget: int = EPOCHS) -> tuple[int, int]:
    """(failed, finished) final runs of the arm at the budget, every framework together."""
    g = last[(last["arm"] == arm) & (last["epochs"] == budget) & last["finished"]]
    return int(g["failed"].sum()), len(g)


def _failed_keys(last: pd.DataFrame, arm: str, budget: int) -> set:
    g = last[(last["arm"] == arm) & (last["epochs"] == budget) & last["finished"]]
    if "failed" not in g:
        return set()
    return {(str(f), int(s)) for f, s, bad in zip(g["framework"], g["seed"], g["failed"]) if bad}


def run_family(last: pd.DataFrame, tests: list[Test]) -> list[Test]:
    """Pair each test's arms by (framework, seed) at its budget and decide every test with two or
    more pairs as ONE Holm family (harness.studies.decide)."""
    from harness.report.stats import SMALLEST_EFFECT
    from harness.studies import decide

    ready = []
    for t in tests:
        va, vb = final_values(last, t.a, t.budget), final_values(last, t.b, t.budget)
        t.keys = sorted(set(va) & set(vb), key=lambda k: (FRAMEWORK_ORDER.index(k[0]) if k[0] in FRAMEWORK_ORDER
                                                            else 9, k[1]))
        t.result = None
        if len(t.keys) < 2:
            continue
        t.values = ({k: POINTS * va[k] for k in t.keys}, {k: POINTS * vb[k] for k in t.keys})
        t.failed = (_failed_keys(last, t.a, t.budget) | _failed_keys(last, t.b, t.budget)) & set(t.keys)
        ready.append(t)
    if ready:
        values = {t.claim: {} for t in ready}
        comps, failed = [], {}
        for i, t in enumerate(ready):  # each test its own pair of value sets: arms recur at other budgets
            a, b = f"{i}:a", f"{i}:b"
            values[a], values[b] = t.values
            failed[a] = t.failed
            comps.append(decide_comparison(t.claim, a, b, t.kind))
        for t, d in zip(ready, decide.decide(comps, values, POINTS * SMALLEST_EFFECT, failed)):
            t.result = d
    return tests


@dataclass(frozen=True)
class decide_comparison:
    claim: str
    a: str
    b: str
    kind: str


def combine(verdicts: list[str], mode: str) -> str:
    """harness.studies.decide.combine, in this report's words (the same "supported" and "contradicted")."""
    from harness.studies.decide import combine as decided

    return decided(verdicts, mode, UNDECIDED)


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
        return "in the study's one Holm family", True
    if have == 0:
        return "in the study's one Holm family; none has runs yet", False
    return f"in the study's one Holm family; {have} of {declared} with runs; verdict withheld", False


def _power_note(tests: list[Test]) -> str:
    needs = [t.result.diff_80 for t in tests if t.result is not None and t.verdict == UNDECIDED
             and not t.result.signed_rank and math.isfinite(t.result.diff_80)]
    return (f"; for 80 % power to decide, the true differences would have to reach {_pt(max(needs))} pp at these "
            "seeds" if needs else "")


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
                                             "an interval straddles the smallest effect") + _power_note(tests))
    return Claim(number, claim, question, f"{family} ({note})", verdict, evidence, list(tests))


def _key(t: Test) -> tuple:
    return t.a, t.b, t.direction, t.budget


def claims(last: pd.DataFrame, table: pd.DataFrame, chosen: pd.DataFrame, band: pd.DataFrame) -> list[Claim]:
    """Every claim, its decision comparisons decided as the study's one Holm family: the claims are
    laid out once to collect the family, which is decided once, then laid out with its decisions."""
    collected: dict[tuple, Test] = {}

    def collect(_, tests: list[Test]) -> list[Test]:
        for t in tests:
            collected.setdefault(_key(t), t)
        return tests

    _claims(last, table, chosen, band, collect)
    run_family(last, list(collected.values()))
    return _claims(last, table, chosen, band, lambda _, tests: [collected[_key(t)] for t in tests])


def reference_lines(last: pd.DataFrame, tests: list[Test], family: list[Test]) -> list[str]:
    """Comparisons shown for reference, outside the family: no verdict, and no second interval for a
    comparison the family decides (it points there instead)."""
    from harness.studies import decide

    decided = {(t.a, t.b, t.budget): t for t in family} | {(t.b, t.a, t.budget): t for t in family}
    lines = []
    for t in tests:
        if (t.a, t.b, t.budget) in decided:
            other = decided[(t.a, t.b, t.budget)]
            lines.append(f"{t.a} − {t.b}: decided in the family as {other.a} − {other.b} (claim 2)")
            continue
        va, vb = final_values(last, t.a, t.budget), final_values(last, t.b, t.budget)
        keys = sorted(set(va) & set(vb))
        diffs: dict[str, list] = {}
        for k in keys:
            diffs.setdefault(k[0], []).append(POINTS * (va[k] - vb[k]))
        est = decide.estimate({f: np.array(v) for f, v in diffs.items()})
        if est.n < 2:
            continue
        lo, hi = est.interval(0.95)
        lines.append(f"{t.a} − {t.b} {_pt(est.mean)} pp [{_pt(lo)}, {_pt(hi)}] at 95 %, n={est.n} (reference, outside "
                     "the family: no verdict)")
    return lines


def _claims(last: pd.DataFrame, table: pd.DataFrame, chosen: pd.DataFrame, band: pd.DataFrame, run_family) \
        -> list[Claim]:
    from harness.report.stats import SMALLEST_EFFECT

    family_so_far: list[Test] = []
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
            "Supported if constant or step is not worse than it by more than the smallest effect (non-inferiority, "
            "not equivalence).",
            "constant − best, step − best", tests, "any", 2))
    else:
        out.append(Claim("1", "Small models: a fixed rate or step decay is simple and effective",
                         "Is the best schedule meaningfully better than a tuned constant rate or step decay?",
                         "constant − best, step − best", UNDECIDED, ["no arm besides constant and step has a finished "
                                                                      "grid yet: no challenger to choose"]))
    # 2. step and cosine against every schedule outside their families
    tests = run_family(last, [Test(a, b, "better") for a in ("step", "cosine") for b in OTHERS])
    family_so_far += tests
    for i, a in enumerate(("step", "cosine")):
        mine = tests[i * len(OTHERS):(i + 1) * len(OTHERS)]
        c = _tested_claim(f"2{'ab'[i]}", "Computer vision: step decay or cosine annealing is standard practice",
                          f"Does {a} beat each schedule outside the step-wise and cosine families "
                          f"({', '.join(OTHERS)})?", "step − other, cosine − other",
                          mine, "all", len(OTHERS))
        note, complete = _family_note(tests, 2 * len(OTHERS))
        c.family = f"step − other, cosine − other ({note})"
        if not complete:
            c.verdict = UNDECIDED
        out.append(c)
    # 3. does warmup help once the rate is tuned: the same schedule with and without a warmup
    failures = {a: int(table.loc[table["arm"] == a, ["diverged", "never_learned", "collapsed"]].to_numpy().sum())
                for a in ("cosine", "warmup", "warmup_linear")}
    rates = {a: int(table.loc[table["arm"] == a, "rate"].nunique()) for a in failures}
    stability = ("stability on the grid: seeds that failed over the arm's rates: " +
                 ", ".join(f"{a} {k} (of {rates[a]} rates)" for a, k in failures.items()))
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
    # 4. super-convergence, at a short budget if the lead ran one. One family per arm, both budgets
    # in it: "one-cycle trains faster" and "cyclic rates train faster" are two claims of the
    # guides, each supported if at one budget the arm beats all three; a budget needs all three
    # (which asks for no correction), "one of two budgets" does, so Holm runs over all six.
    short = sorted(int(b) for b in set(last.loc[last["finished"], "epochs"]) if int(b) in SHORT_BUDGETS)
    long_text = ("30 epochs, for reference (not a short budget: these schedules' shapes span all 30 epochs, so "
                 "epochs 5 and 10 of these runs are mid-schedule, not a short run):")
    budgets = short or list(SHORT_BUDGETS)
    for i, a in enumerate(("onecycle", "cyclic")):
        long_tests = [Test(a, b, "better") for b in STANDARD]
        reference = [long_text] + reference_lines(last, long_tests, family_so_far)
        title = "Cyclic rates / one-cycle train faster (super-convergence)"
        family = (f"{a} − constant, step, cosine at {' and '.join(map(str, budgets))} epochs "
                  f"(in the study's one Holm family)")
        if not short:
            out.append(Claim(f"4{'ab'[i]}", title, f"At a short budget, is {a} better than each of constant, step and "
                             "cosine?", family, UNDECIDED, ["no short-budget runs (epochs=5 or 10 in final/): the "
                                                            "short budget is not measured"] + reference, long_tests))
            continue
        tested = run_family(last, [Test(a, b, "better", budget) for budget in short for b in STANDARD])
        verdicts, evidence = [], []
        for budget in short:
            tests = [t for t in tested if t.budget == budget]
            complete = all(t.result is not None for t in tests)
            verdicts.append(combine([t.verdict for t in tests], "all") if complete else UNDECIDED)
            evidence += [f"{budget} epochs: {line}" for line in evidence_lines(tests)]
            evidence += [f"{budget} epochs: {line}" for line in dead_seeds(last, (a, *STANDARD), budget)]
        # faster means better at some short budget; a budget without its runs decides nothing
        verdict = combine(verdicts, "any")
        out.append(Claim(f"4{'ab'[i]}", title, f"At a short budget ({', '.join(map(str, short))} epochs), is {a} "
                         "better than each of constant, step and cosine at one of them?", family, verdict,
                         evidence + reference, tested))
    # 5. plateau against the tuned fixed schedules (it trains on 50,000 images: it keeps its split)
    tests = run_family(last, [Test("plateau", b, "not worse") for b in STANDARD])
    out.append(_tested_claim(
        "5", "Reduce-on-plateau adapts without a schedule",
        "Is plateau, at its tuned rate, not worse than each tuned fixed schedule (constant, step, cosine) by more "
        "than the smallest effect (non-inferiority, not equivalence)? It trains on 50,000 images (10,000 kept to "
        "monitor), the others on 60,000.",
        "plateau − constant, step, cosine", tests, "all", 3))
    # 6. Adam's band of good rates against SGD's, from the grid
    for i, (s, a) in enumerate((("constant", "constant+adam"), ("cosine", "cosine+adam"))):
        out.append(band_claim(f"6{'ab'[i]}", s, a, band))
    for claim in out:  # claim 4 names its short budgets' dead seeds itself, per budget
        at_30 = dict.fromkeys(arm for t in claim.tests if t.budget == EPOCHS for arm in (t.a, t.b))
        claim.evidence += dead_seeds(last, at_30) + decided_by(claim)
    return out


FAILED_LINE = ("seeds that diverged, never learned or collapsed (in their comparisons at their own near-chance "
               "accuracy, where the signed-rank test decides; out of every mean)")


def dead_seeds(last: pd.DataFrame, arms, budget: int = EPOCHS) -> list[str]:
    """The line naming the arms with seeds that failed at the budget: each counts at chance, so one
    alone can widen an interval by tens of points."""
    failed = [f"{arm} {n} of {k}" for arm in arms for n, k in [failed_runs(last, arm, budget)] if n]
    return [f"{FAILED_LINE}: {', '.join(failed)}"] \
        if failed else []


def decided_by(claim: Claim) -> list[str]:
    """The line that names the comparisons a supported or contradicted claim rests on, so that a
    reader need not scan the ✓ and ✗ of a long family."""
    decisive = [f"{t.a} − {t.b}" + (f" at {t.budget} epochs" if t.budget != EPOCHS else "") for t in claim.tests
                if claim.verdict in (SUPPORTED, CONTRADICTED) and t.verdict == claim.verdict]
    return [f"{claim.verdict} by {join_words(decisive)}"] if decisive else []


GRID_STEP = 0.45  # decades: the grid's rates are 1, 3, 10, ...: one step is 0.48 or 0.52 decades


def band_text(row) -> str:
    lo = "≤" if row["censored_low"] else ""
    hi = "≥" if row["censored_high"] else ""
    return (f"{row['arm']}: {row['low']:g}–{row['high']:g} ({row['decades']:.2f} decades on the grid; "
            f"interpolated {lo}{row['interp_low']:.2g}–{hi}{row['interp_high']:.2g}, {row['interp_decades']:.2f}); "
            "each seed alone: " + ", ".join(f"{v:.2f}" for v in row["seed_decades"].values()) + " on the grid, "
            + ", ".join(f"{v:.2f}" for v in row["seed_interp"].values()) + " interpolated")


def band_claim(number: str, sgd: str, adam: str, band: pd.DataFrame) -> Claim:
    claim, question = ("Adam needs less tuning than SGD",
                       f"Is the band of base rates within 1 point of the best validation accuracy wider for {adam} "
                       f"than for {sgd} (SGD, momentum 0.9)? Each seed's band is interpolated between grid points "
                       "(the grid's resolution is half a decade: 0.48 or 0.52 decades between its points). "
                       "Supported if wider by at least one grid step in every seed; contradicted if narrower by that "
                       "much in every seed.")
    family = "band widths from the grid (not a test: two seeds per rate)"
    rows = {r["arm"]: r for _, r in band.iterrows()} if len(band) else {}
    if sgd not in rows or adam not in rows:
        missing = [x for x in (sgd, adam) if x not in rows]
        return Claim(number, claim, question, family, UNDECIDED, [f"grid not finished for {join_words(missing)}"])
    s, a = rows[sgd], rows[adam]
    seeds = sorted(set(a["seed_interp"]) & set(s["seed_interp"]))
    diffs = [a["seed_interp"][k] - s["seed_interp"][k] for k in seeds]
    if diffs and all(d >= GRID_STEP for d in diffs) and not s["censored_low"] and not s["censored_high"]:
        verdict = SUPPORTED
    elif diffs and all(d <= -GRID_STEP for d in diffs) and not a["censored_low"] and not a["censored_high"]:
        verdict = CONTRADICTED
    else:
        verdict = UNDECIDED
    evidence = [band_text(s), band_text(a),
                f"{adam} − {sgd}, interpolated per seed: " + ", ".join(f"{d:+.2f}" for d in diffs) + " decades; on the "
                f"grid: {a['decades'] - s['decades']:+.2f} (mean), " + ", ".join(
                    f"{a['seed_decades'][k] - s['seed_decades'][k]:+.2f}" for k in seeds) + " (each seed); a sign "
                "that moves with one grid point is not a finding: the confirmatory re-grid (four rates per decade, four "
                "seeds) decides"]
    if s["censored_low"] or s["censored_high"] or a["censored_low"] or a["censored_high"]:
        evidence.append("≤/≥: the band reaches the grid's end and may be wider")
    return Claim(number, claim, question, family, verdict, evidence)


def framework_sentence(found: list[Claim]) -> str:
    """Whether the frameworks agree on the comparisons pooled over them."""
    pooled = {(t.a, t.b): t for c in found for t in c.tests if t.result is not None and len(t.per_framework) > 1}
    if not pooled:
        return "Frameworks: no comparison has runs in more than one framework yet."
    split = [t for t in pooled.values() if t.disagree_p is not None and t.disagree_p < 0.05]
    if not split:
        powers = [t.result.disagreement[1] for t in pooled.values() if t.result.disagreement]
        shift = 2 * POINTS * 0.003
        return (f"Frameworks: on the {len(pooled)} comparisons pooled over frameworks, no disagreement between "
                f"frameworks was detected (one-way ANOVA of the paired differences by framework, p ≥ 0.05 each); that "
                f"is absence of evidence, not agreement: the power of that test for a {shift:.1f}-point shift of one "
                f"framework is {min(powers):.2f}–{max(powers):.2f} at these seeds." if powers else
                f"Frameworks: on the {len(pooled)} comparisons pooled over frameworks, no disagreement was detected.")
    return ("Frameworks: ⚠ they disagree on " + join_words([f"{t.a} − {t.b} (p={t.disagree_p:.2g})" for t in split])
            + f" of the {len(pooled)} pooled comparisons (one-way ANOVA of the paired differences by framework); the "
            "pooled verdict there is withheld: read each framework's own difference.")
