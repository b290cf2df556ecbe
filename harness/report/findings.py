"""The sentences: findings per protocol and the headline, generated from the numbers.

Nothing here knows a schedule's name: a series is named by its label, the baseline is whatever
constant-rate series ran with the same settings, and a winner must have learned (a mean over its
seeds that learned which harness.report.rules cannot tell from chance is no winner) and be ahead by
more than a tie.
"""

from __future__ import annotations

import numpy as np

from harness.report.load import FRAMEWORK_ORDER, fw_label
from harness.report.estimates import Estimate
from harness.report.stats import SMALLEST_EFFECT, Comparison, paired_comparison
from harness.report.cells import Cell, ProtocolSummary
from harness.report.summary import TIE, _paired_seeds


CHANCE_WORDS = "10% for ten classes, by a binomial test on the test-set size"


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def pp(x: float, digits: int = 1) -> str:
    """Percentage points with an explicit sign; a true minus sign for readability."""
    s = f"{100 * x:+.{digits}f}"
    if float(s) == 0:
        s = s[1:]  # no sign on a difference that rounds to zero
    return s.replace("-", "−") + " pp"


def ci_text(e: Estimate, digits: int = 1) -> str:
    if e.half is None:
        return "n=1, no interval"
    return f"95% CI {pp(e.low, digits)} to {pp(e.high, digits)}"


def join_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


AGREE_ALPHA = 0.05


def agreement_word(rho: float, p: float) -> str:
    """Tied to the exact permutation p-value, not to the size of rho: six series ranked alike
    by chance alone happen once in 360 orderings (p = 0.003), three series' once in 3 (p = 0.33)."""
    if p < AGREE_ALPHA:
        return "agree" if rho > 0 else "reversed"
    return "no evidence of agreement"


def learned(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if not c.at_chance]


def top(cells: list[Cell]) -> list[Cell]:
    """The cells tied for the best mean (one cell unless there is a tie)."""
    if not cells:
        return []
    return [c for c in cells if cells[0].final.mean - c.final.mean < TIE]


def _winner_sentence(s: ProtocolSummary, fw: str) -> str:
    ranked = s.ranked(fw)
    name = fw_label(fw)
    no_mean = [s.cell(fw, x) for x in s.schedules if s.cell(fw, x).none_learned]
    if not ranked:
        if no_mean:
            return (f"{name}: no schedule learned: every finished seed failed ("
                    + "; ".join(f"{c.series}: {c.failed_seeds_text()}" for c in no_mean) + ").")
        return f"{name}: no complete run yet."
    good = learned(ranked)
    if len(ranked) == 1 and not no_mean:
        win = ranked[0]
        verdict = (f"indistinguishable from chance ({CHANCE_WORDS}): it did not learn" if win.at_chance
                   else "nothing to compare it with")
        return (f"{name}: only one schedule ran (**{win.series}**, {pct(win.final.mean, 2)} final test accuracy, "
                f"n={win.final.n}{win.learned_text().replace(' (', '; ').rstrip(')')}): {verdict}.")
    if not good:
        return (f"{name}: no schedule learned: every mean is indistinguishable from chance ({CHANCE_WORDS}) "
                f"({join_words([f'{c.series} {pct(c.final.mean)}' for c in ranked])}"
                + (f"; no seed of {join_words([c.series for c in no_mean])} learned" if no_mean else "") + ").")
    best = top(good)
    if len(best) > 1:
        names = join_words([f"**{c.series}**" for c in best])
        return f"{name}: tie: {names} end at the same {pct(best[0].final.mean, 2)} final test accuracy."
    win = good[0]
    # the runner-up: the next of the same optimizer, budget and network (another budget's run is
    # another experiment, not a second place)
    peers = [c for c in good[1:] if c.context == win.context]
    second = peers[0] if peers else None
    text = f"{name}: **{win.series}** has the best mean, {pct(win.final.mean, 2)} final test accuracy (n={win.final.n})"
    if win.n_failures:
        text += f", but {win.failure_text()} (the mean is over its {win.final.n} seeds that learned)"
    if win.n_running:
        text += f"; {win.n_running} more run{'s' if win.n_running > 1 else ''} not finished (running or interrupted)"
    if second is None:
        dead = [c.series for c in ranked if c.at_chance] + [c.series for c in no_mean]
        if dead:
            return text + f"; the other{'s' if len(dead) > 1 else ''} ({join_words(dead)}) did not learn."
        return text + "; no other schedule ran with its optimizer, budget and network."
    lead = comparison(win, second)
    if lead is None:
        return text + f"; {second.series} shares no seed with it, so they are not compared."
    return text + "; " + lead.sentence(win.series, second.series) + "."


def comparison(a: Cell, b: Cell) -> Comparison | None:
    """a − b over the seeds both finished (uncorrected: one comparison, named in its sentence)."""
    xa, xb = _paired_seeds(a.final_by_seed, b.final_by_seed)
    return paired_comparison(xa, xb) if xa else None


def findings(s: ProtocolSummary) -> list[str]:
    """Short sentences generated from the numbers, in the order a reader asks."""
    out = [_winner_sentence(s, fw) for fw in s.frameworks]
    # does the ranking agree across frameworks?
    rhos = [(a, b, rho, p, n) for (a, b), (rho, p, n) in s.rank_correlations.items()]
    if rhos and len(s.schedules) > 1:
        parts = [f"{fw_label(a)} vs {fw_label(b)} ρ = {rho:.2f}, exact p = {p:.3f}, n = {n}: {agreement_word(rho, p)}".replace("-", "−")
                 if rho == rho else f"{fw_label(a)} vs {fw_label(b)} not computable ({n} common schedule{'s' if n != 1 else ''} that learned, 3 needed)"
                 for a, b, rho, p, n in rhos]
        out.append("Schedule rankings across frameworks (Spearman rank correlation of mean final test accuracy over "
                   "the schedules that learned in both; exact permutation p-value, \"agree\" at p < 0.05): "
                   + "; ".join(parts) + ".")
    # each framework's comparisons with its constant rate: one Holm family per framework
    for fw in s.frameworks:
        groups: dict[str, list[str]] = {}
        single, bases = [], set()
        for label in s.schedules:
            c = s.cell(fw, label)
            if c.vs_constant is None:
                continue
            bases.add(c.baseline)
            comp = c.vs_constant_cmp
            if comp is not None and c.vs_constant.show_seeds:
                groups.setdefault("spread", []).append(f"{label} {pp(c.vs_constant.mean)}")
                continue
            if comp is None:
                single.append(f"{label} {pp(c.vs_constant.mean)}")
                continue
            if comp.label == "identical":
                text = (f"{label} (identical on all {comp.n} seeds)" if comp.mean_diff == 0
                        else f"{label} ({pp(comp.mean_diff, 2)} on all {comp.n} seeds)")
            elif comp.label == "better":
                text = f"{label} by at least {100 * comp.ci_low:.2f} pp ({comp.interval_text()})"
            elif comp.label == "worse":
                text = f"{label} by at least {-100 * comp.ci_high:.2f} pp ({comp.interval_text()})"
            elif comp.label == "equivalent":
                text = f"{label} ({comp.interval_text()})"
            else:
                text = (f"{label} ({comp.interval_text()}; a verdict needs ≥ {100 * comp.verdict_difference:.2f} pp "
                        "for 80 % power)")
            groups.setdefault(comp.label, []).append(text)
        if not (groups or single):
            continue
        words = {"better": "better", "worse": "worse", "equivalent": f"equivalent within ±{100 * SMALLEST_EFFECT:.1f} pp",
                 "identical": "no spread", "inconclusive": "inconclusive",
                 "spread": "seeds too far apart for an interval (some at chance)"}
        bits = [f"{words[k]}: {join_words(groups[k])}" for k in ("better", "worse", "equivalent", "identical",
                                                                   "inconclusive", "spread") if k in groups]
        if single:
            bits.append(f"one shared seed, no interval: {join_words(single)}")
        n = max((s.cell(fw, x).vs_constant_cmp.n for x in s.schedules if s.cell(fw, x).vs_constant_cmp), default=1)
        base = next(iter(bases)) if len(bases) == 1 else "the constant rate with the same settings"
        how = (f" (n={n}; Holm-corrected intervals, smallest effect that matters ±{100 * SMALLEST_EFFECT:.1f} pp)"
               if groups else "")
        out.append(f"{fw_label(fw)}, paired difference to {base} over the same seeds{how} — " + "; ".join(bits) + ".")
    # the published figures (d2l protocol only: the clean protocol is a different experiment)
    if s.protocol == "d2l":
        yes, no, unjudged = [], [], []
        for fw in s.frameworks:
            for label in s.schedules:
                c = s.cell(fw, label)
                if c.published is None or c.final is None:
                    continue
                name = f"{fw_label(fw)} {label}"
                if c.reproduces is None:
                    why = ("one seed, no spread to borrow" if c.reproduce_band is None
                           else f"seed spread ±{100 * c.reproduce_band:.1f} pp too wide")
                    unjudged.append(f"{name} ({pp(c.delta_published)}; {why})")
                elif c.reproduces:
                    yes.append(name)
                else:
                    beyond = ("did not learn" if c.at_chance
                              else f"beyond ±{100 * c.reproduce_band:.1f} pp")
                    no.append(f"{name} ({pct(c.final.mean)} vs {pct(c.published)}, {pp(c.delta_published)}, {beyond})")
        if yes or no or unjudged:
            total = len(yes) + len(no) + len(unjudged)
            text = f"Published d2l figures reproduced within our seed spread: {len(yes)} of {total}"
            if yes and len(yes) == total:
                text = f"Published d2l figures reproduced within our seed spread: all {total}"
            elif yes:
                text += f" ({join_words(yes)})"
            text += f"; not reproduced: {join_words(no)}" if no else ""
            text += f"; not judged: {join_words(unjudged)}" if unjudged else ""
            out.append(text + ".")
    if s.published_withheld:
        chapter = "30 epochs, 60,000/10,000 images, batch 256, its schedule parameters, plain SGD"
        if not s.has_published:
            differs = list(dict.fromkeys(d for _, ds in s.published_withheld for d in ds))
            out.append(f"The chapter's published figures are not compared with: no run here had its budget ({chapter}); "
                       f"these runs differ in {join_words(differs)}.")
        else:
            out.append(f"Not compared with the chapter's published figures, because the budget or settings differ "
                       f"from the chapter's ({chapter}): "
                       + join_words([f"{name} ({', '.join(ds)})" for name, ds in s.published_withheld]) + ".")
    short = [f"{fw_label(c.framework)} {c.series} ({c.horizon_note})" for c in s.cells.values() if c.horizon_note]
    if short:
        out.append("Shortened horizons: " + "; ".join(short) + ".")
    # what is not in the means
    problems = [f"no {fw_label(fw)} runs" for fw in FRAMEWORK_ORDER if fw not in s.frameworks] if len(s.frameworks) > 1 else []
    # series missing in some frameworks, grouped: "constant · adam and cosine · adam: no TensorFlow or MXNet runs"
    absent: dict[tuple[str, ...], list[str]] = {}
    for label in s.schedules:
        where = tuple(fw for fw in s.frameworks if s.cell(fw, label).missing)
        if where:
            absent.setdefault(where, []).append(label)
    for where, labels in absent.items():
        names = " or ".join(fw_label(fw) for fw in where)
        problems.append(f"{join_words(labels)}: no {names} runs" if len(labels) > 1 or len(where) > 1
                        else f"{fw_label(where[0])} {labels[0]} has no runs")
    for fw in s.frameworks:
        for label in s.schedules:
            c = s.cell(fw, label)
            name = f"{fw_label(fw)} {label}"
            if c.n_failures:
                rate = c.success()
                problems.append(f"{name}: {c.failure_text()}; success rate {pct(rate[0], 0)} "
                                f"(exact 95% interval {pct(rate[1], 0)}–{pct(rate[2], 0)})")
            if c.n_running:
                problems.append(f"{name}: {c.n_running} of {c.n_runs} runs incomplete (running or interrupted)")
            if c.too_short:
                problems.append(f"{name}: seed{'s' if len(c.too_short) > 1 else ''} "
                                f"{', '.join(map(str, c.too_short))} too short for a trend")
    if problems:
        out.append("Gaps and failures: " + "; ".join(problems) + ".")
    return out


def pooled_gain(s: ProtocolSummary, winners: list[Cell]) -> str:
    """The winner against its constant rate, pooled over the frameworks with framework as a block,
    and whether the frameworks disagree; the winner's failed seeds named."""
    from harness.report.stats import blocked_comparison

    blocks = [_paired_seeds(c.final_by_seed, s.cell(c.framework, c.baseline).final_by_seed)
              for c in winners if c.baseline and not c.is_baseline]
    blocks = [b for b in blocks if b[0]]
    text = ""
    if blocks:
        comp, between = blocked_comparison(blocks)
        what = (f"pooled over {len(blocks)} framework{'s' if len(blocks) > 1 else ''} with framework as a block, "
                f"n={comp.n} paired seeds")
        if comp.label == "identical":
            text += f"; against the constant rate: {pp(comp.mean_diff, 2)} on all {comp.n} paired seeds"
        elif comp.n < 2:
            text += f"; {pp(comp.mean_diff, 2)} over the constant rate on one seed (no interval)"
        else:
            reading = {"better": f"better by at least {100 * comp.ci_low:.2f} pp",
                       "worse": f"worse by at least {-100 * comp.ci_high:.2f} pp",
                       "equivalent": f"equivalent within ±{100 * SMALLEST_EFFECT:.1f} pp"}.get(
                comp.label, f"inconclusive at {comp.n} seeds (a verdict needs a true difference ≥ "
                            f"{100 * comp.verdict_difference:.2f} pp for 80 % power)")
            text += (f"; against the constant rate {pp(comp.mean_diff, 2)}, 95% interval {comp.interval_text()} "
                     f"({what}): {reading}")
        if between == between:
            from harness.report.stats import disagreement_power

            power = disagreement_power([np.subtract(a, b) for a, b in blocks], 2 * SMALLEST_EFFECT)
            text += (f"; the frameworks disagree on the gain (ANOVA p = {between:.2f})" if between < 0.05 else
                     f"; no disagreement between the frameworks detected (ANOVA p = {between:.2f}; its power for a "
                     f"{200 * SMALLEST_EFFECT:.1f}-pt shift of one framework is {power:.2f})" if power is not None else
                     f"; no disagreement between the frameworks detected (ANOVA p = {between:.2f})")
    failed = [f"in {fw_label(c.framework)} {c.failure_text()}" for c in winners if c.n_failures]
    if failed:
        text += "; but " + join_words(failed) + " (each mean is over the seeds that learned)"
    return text


def headline(summaries: list[ProtocolSummary]) -> str:
    """One sentence answering "which schedule wins, by how much, and is it true everywhere?".

    Frameworks are compared only on the schedules that learned in every one of them: a schedule
    run in one framework alone (an optimizer the others never ran) is a missing cell, not a
    disagreement, and is named as such."""
    primary = next((s for s in summaries if any(s.ranked(fw) for fw in s.frameworks)), None)
    if primary is None:
        dead = next((s for s in summaries if any(c.none_learned for c in s.cells.values())), None)
        if dead is not None:
            return (f"No schedule learned ({dead.protocol} protocol): every finished seed failed by its verdict "
                    "(diverged, never learned or collapsed); the Verdicts section names each.")
        return "No run has completed yet: the curves below show the runs in progress."
    scope = f"{primary.protocol} protocol"
    ranked = {fw: r for fw in primary.frameworks if (r := primary.ranked(fw))}
    no_mean = [c for c in primary.cells.values() if c.none_learned]
    if (all(len(r) == 1 for r in ranked.values()) and len({r[0].series for r in ranked.values()}) == 1
            and not no_mean):
        label = next(iter(ranked.values()))[0].series
        where = ", ".join(f"{fw_label(fw)} {pct(r[0].final.mean)}" for fw, r in ranked.items())
        verdict = ("" if all(not r[0].at_chance for r in ranked.values())
                   else f"; indistinguishable from chance ({CHANCE_WORDS}): it did not learn")
        return f"Only one schedule ran ({scope}): {label}, final test accuracy {where}{verdict}."
    winners = {fw: learned(r) for fw, r in ranked.items()}
    if not any(winners.values()):
        return (f"No schedule learned ({scope}): every mean is indistinguishable from chance ({CHANCE_WORDS}) "
                f"(the best: {pct(max(c.final.mean for r in ranked.values() for c in r))}).")

    def noise(c: Cell) -> str:
        comp = c.vs_constant_cmp
        if comp is None:
            return "one seed, no interval"
        return {"better": "better beyond the smallest effect", "worse": "worse beyond the smallest effect",
                "equivalent": "equivalent", "identical": f"identical on all {comp.n} seeds"}.get(
            comp.label, f"inconclusive at {comp.n} seeds")

    # the schedules that learned in every framework: the only ones the frameworks can disagree on
    learned_in = {fw: {c.series for c in w} for fw, w in winners.items()}
    everywhere = set.intersection(*learned_in.values()) if learned_in else set()
    several = len(winners) > 1
    outside = ""
    if several and everywhere:
        overall = {fw: w[0] for fw, w in winners.items() if w}
        winners = {fw: [c for c in w if c.series in everywhere] for fw, w in winners.items()}
        alone = [c for c in overall.values() if c.series not in everywhere]
        if alone:
            def why(c: Cell) -> str:
                others = [f for f in winners if c.series not in learned_in[f]]
                unrun = [fw_label(f) for f in others if primary.cells[(f, c.series)].final is None
                         and not primary.cells[(f, c.series)].none_learned]
                unlearned = [fw_label(f) for f in others if fw_label(f) not in unrun]
                return join_words(([f"has no {' or '.join(unrun)} run"] if unrun else [])
                                  + ([f"did not learn in {join_words(unlearned)}"] if unlearned else []))

            outside = "; " + join_words([
                f"{fw_label(c.framework)}'s best overall, {c.series} ({pct(c.final.mean)}), {why(c)}"
                for c in alone]) + ": a missing cell, not a disagreement"
    tied = {fw: top(w) for fw, w in winners.items() if w}
    if any(len(t) > 1 for t in tied.values()):
        parts = [f"{join_words([c.series for c in t])} {'tie' if len(t) > 1 else 'wins'} in {fw_label(fw)} "
                 f"({pct(t[0].final.mean)})" for fw, t in tied.items()]
        return f"No single best schedule ({scope}): " + join_words(parts) + outside + "."
    best = {fw: t[0] for fw, t in tied.items()}
    names = {c.series for c in best.values()}
    among = (f", among the {len(everywhere)} schedule{'s' if len(everywhere) > 1 else ''} that learned in every "
             "framework" if several and everywhere and outside else "")
    if len(names) == 1:
        label = names.pop()
        where = ", ".join(f"{fw_label(fw)} {pct(c.final.mean)}" for fw, c in best.items())
        frameworks = "every framework" if len(best) > 1 else fw_label(next(iter(best)))
        text = (f"{label[:1].upper() + label[1:]} gives the best final test accuracy in {frameworks} ({scope}: "
                f"{where}){among}")
        text += pooled_gain(primary, list(best.values()))
    else:
        parts = []
        for fw, c in best.items():
            part = f"{c.series} in {fw_label(fw)} ({pct(c.final.mean)}"
            if c.vs_constant is not None:
                part += f", {pp(c.vs_constant.mean)} over constant, {noise(c)}"
            if c.n_failures:
                part += f"; {c.failure_text()}"
            parts.append(part + ")")
        if several and not everywhere:
            text = (f"No schedule learned in every framework ({scope}), so the frameworks are not compared; the best "
                    "in each: " + join_words(parts))
        else:
            text = f"The best schedule depends on the framework ({scope}{among}): " + join_words(parts)
    return text + outside + "."
