"""The sentences: findings per protocol and the headline, generated from the numbers.

Nothing here knows a schedule's name: a series is named by its label, the baseline is whatever
constant-rate series ran with the same settings, and a winner must have learned (a final test
accuracy at or above CHANCE_ACC) and be ahead by more than a tie.
"""

from __future__ import annotations

from harness.report.load import CHANCE_ACC, FRAMEWORK_ORDER, fw_label
from harness.report.stats import Estimate, paired_difference
from harness.report.summary import TIE, Cell, ProtocolSummary


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


def agreement_word(rho: float) -> str:
    if rho >= 0.7:
        return "agree"
    if rho >= 0.3:
        return "partly agree"
    return "do not agree"


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
    if not ranked:
        return f"{name}: no complete run yet."
    good = learned(ranked)
    if len(ranked) == 1:
        win = ranked[0]
        verdict = "below chance level (10%): it did not learn" if win.at_chance else "nothing to compare it with"
        return (f"{name}: only one schedule ran (**{win.series}**, {pct(win.final.mean, 2)} final test accuracy, "
                f"n={win.final.n}): {verdict}.")
    if not good:
        return (f"{name}: no schedule learned: every complete run ended below chance level "
                f"({join_words([f'{c.series} {pct(c.final.mean)}' for c in ranked])}; chance is 10%).")
    best = top(good)
    if len(best) > 1:
        names = join_words([f"**{c.series}**" for c in best])
        return f"{name}: tie: {names} end at the same {pct(best[0].final.mean, 2)} final test accuracy."
    win, second = good[0], (good[1] if len(good) > 1 else None)
    text = f"{name}: **{win.series}** wins with {pct(win.final.mean, 2)} final test accuracy (n={win.final.n})"
    if second is None:
        dead = [c.series for c in ranked if c.at_chance]
        return text + f"; the other{'s' if len(dead) > 1 else ''} ({join_words(dead)}) never learned."
    lead = paired_difference(win.final_by_seed, second.final_by_seed)
    if lead is None or lead.half is None:
        gap = 100 * (win.final.mean - second.final.mean)
        text += f", {gap:.2f} pp ahead of {second.series} (too few shared seeds to judge the noise)"
    else:
        noise = "inside the noise" if not lead.excludes_zero() else "beyond the noise"
        text += (f", {100 * lead.mean:.2f} pp ahead of {second.series} over the same seeds "
                 f"({ci_text(lead, 2)}: {noise})")
    return text + "."


def findings(s: ProtocolSummary) -> list[str]:
    """Short sentences generated from the numbers, in the order a reader asks."""
    out = [_winner_sentence(s, fw) for fw in s.frameworks]
    # does the ranking agree across frameworks?
    rhos = [(a, b, rho, n) for (a, b), (rho, n) in s.rank_correlations.items()]
    if rhos and len(s.schedules) > 1:
        parts = [f"{fw_label(a)} vs {fw_label(b)} ρ = {rho:.2f} ({agreement_word(rho)}, {n} schedules)".replace("-", "−")
                 if rho is not None else f"{fw_label(a)} vs {fw_label(b)} not computable ({n} common schedule{'s' if n != 1 else ''}, 3 needed)"
                 for a, b, rho, n in rhos]
        out.append("Schedule rankings across frameworks (Spearman rank correlation of mean final test accuracy): "
                   + "; ".join(parts) + ".")
    # which differences to the constant-rate baseline are inside the noise?
    for fw in s.frameworks:
        clear, noisy, single, spread, same = [], [], [], [], []
        bases = set()
        for label in s.schedules:
            c = s.cell(fw, label)
            d = c.vs_constant
            if d is None:
                continue
            bases.add(c.baseline)
            text = f"{label} {pp(d.mean)}"
            if d.half is not None and abs(d.mean) < TIE and d.half < TIE:
                same.append(label)
            elif d.half is None:
                single.append(text)
            elif d.show_seeds:
                spread.append(text)
            elif d.excludes_zero():
                clear.append(text)
            else:
                noisy.append(text)
        if not (clear or noisy or single or spread or same):
            continue
        bits = []
        if same:
            bits.append(f"no difference (a tie on every shared seed): {join_words(same)}")
        if clear:
            bits.append(f"beyond the noise: {join_words(clear)}")
        if noisy:
            bits.append(f"inside the noise (95% CI includes zero): {join_words(noisy)}")
        if spread:
            bits.append(f"seeds too far apart for an interval (some never learned): {join_words(spread)}")
        if single:
            bits.append(f"one shared seed, no interval: {join_words(single)}")
        base = next(iter(bases)) if len(bases) == 1 else "the constant rate with the same settings"
        out.append(f"{fw_label(fw)}, paired difference to {base} over the same seeds — " + "; ".join(bits) + ".")
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
            if c.n_diverged:
                problems.append(f"{name}: {c.n_diverged} of {c.n_runs} runs diverged")
            if c.n_running:
                problems.append(f"{name}: {c.n_running} of {c.n_runs} runs incomplete")
            if c.at_chance:
                problems.append(f"{name} never learned (final test accuracy {pct(c.final.mean)}, chance is 10%)")
            elif c.n_at_chance:
                problems.append(f"{name}: {c.n_at_chance} of {c.n_complete} runs never learned (stuck at chance, "
                                f"10%), which the mean includes (the seeds are shown, not an interval)")
    if problems:
        out.append("Gaps and failures: " + "; ".join(problems) + ".")
    return out


def headline(summaries: list[ProtocolSummary]) -> str:
    """One sentence answering "which schedule wins, by how much, and is it true everywhere?"."""
    primary = next((s for s in summaries if any(s.ranked(fw) for fw in s.frameworks)), None)
    if primary is None:
        return "No run has completed yet: the curves below show the runs in progress."
    scope = f"{primary.protocol} protocol"
    ranked = {fw: r for fw in primary.frameworks if (r := primary.ranked(fw))}
    if all(len(r) == 1 for r in ranked.values()) and len({r[0].series for r in ranked.values()}) == 1:
        label = next(iter(ranked.values()))[0].series
        where = ", ".join(f"{fw_label(fw)} {pct(r[0].final.mean)}" for fw, r in ranked.items())
        verdict = ("" if all(not r[0].at_chance for r in ranked.values())
                   else "; below chance level (10%): it did not learn")
        return f"Only one schedule ran ({scope}): {label}, final test accuracy {where}{verdict}."
    winners = {fw: learned(r) for fw, r in ranked.items()}
    if not any(winners.values()):
        return (f"No schedule learned ({scope}): every complete run ended below chance level "
                f"(the best: {pct(max(c.final.mean for r in ranked.values() for c in r))}; chance is 10%).")

    def noise(gains: list[Estimate]) -> str:
        judged = [g for g in gains if g.half is not None]
        clear = sum(bool(g.excludes_zero()) for g in judged)
        if not judged:
            return "one seed, no interval"
        if clear == len(judged):
            return "beyond the seed noise"
        if clear == 0:
            return "inside the seed noise"
        return f"beyond the seed noise in {clear} of {len(judged)} frameworks"

    tied = {fw: top(w) for fw, w in winners.items() if w}
    if any(len(t) > 1 for t in tied.values()):
        parts = [f"{join_words([c.series for c in t])} {'tie' if len(t) > 1 else 'wins'} in {fw_label(fw)} "
                 f"({pct(t[0].final.mean)})" for fw, t in tied.items()]
        return f"No single best schedule ({scope}): " + join_words(parts) + "."
    best = {fw: t[0] for fw, t in tied.items()}
    names = {c.series for c in best.values()}
    if len(names) == 1:
        label = names.pop()
        where = ", ".join(f"{fw_label(fw)} {pct(c.final.mean)}" for fw, c in best.items())
        frameworks = "every framework" if len(best) > 1 else fw_label(next(iter(best)))
        text = f"{label[:1].upper() + label[1:]} gives the best final test accuracy in {frameworks} ({scope}: {where})"
        gains = [c.vs_constant for c in best.values() if c.vs_constant is not None]
        if gains:
            lo, hi = min(g.mean for g in gains), max(g.mean for g in gains)
            span = pp(lo) if abs(hi - lo) < 0.0005 else f"{pp(lo)} to {pp(hi)}"
            text += f", {span} over the constant rate ({noise(gains)})"
    else:
        parts = []
        for fw, c in best.items():
            part = f"{c.series} in {fw_label(fw)} ({pct(c.final.mean)}"
            if c.vs_constant is not None:
                part += f", {pp(c.vs_constant.mean)} over constant, {noise([c.vs_constant])}"
            # another framework's winner that this one has no complete run of: the ranking is partial
            absent = sorted({w.series for w in best.values() if primary.cells[(fw, w.series)].final is None},
                            key=primary.schedules.index)
            if absent:
                part += f"; no complete {join_words(absent)} run"
            parts.append(part + ")")
        text = f"The best schedule depends on the framework ({scope}): " + join_words(parts)
    return text + "."
