"""One colour and one line style per series (schedule variant) in every figure and table of a
report, without matplotlib (the tables' swatches use it too).

A schedule the field knows has a preferred colour, so it looks the same in every report; a
colour is never given to two series of one report while the palette has an unused one; past
that (more than 20 series), colours repeat with another line style, so the (colour, line style)
pair stays unique. The assignment depends only on the series' labels and schedule names, in a
fixed order, so the same results always give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.schedules import in_order
from harness.schedules.registry import FAMILIES as REGISTRY_FAMILIES
from harness.schema import scheduler_kinds

# Past this many series in a protocol, overlaid curves become spaghetti: the figures switch to the
# top few against the baseline plus small multiples by family, and the tables drop empty rows.
MAX_OVERLAID = 7

# Okabe-Ito first (distinct for colour-blind readers; the d2l chapter's six schedules keep the
# colours they always had), then well-separated others. No pale colours: lines sit on white.
PALETTE = [
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#A08A00",
    "#17BECF", "#BE0032", "#848482", "#8DB600", "#882D17", "#1B2A6B", "#875692", "#F99379",
    "#2A9D8F", "#654522", "#C71585", "#6A3D9A",
]
# schedule -> (palette index, line style index): the field's schedules look the same in every
# report (each schedule's ``colour`` in its registration, harness/schedules); the second ten are
# dashed, so that two neighbours in the palette differ twice.
PREFERRED = {name: info.colour for info in in_order() if info.colour for name in (info.kind, *info.aliases)}
# matplotlib dash patterns; the names are for the HTML swatches (SVG stroke-dasharray)
LINE_STYLES = [("solid", "-", ""), ("dashed", (0, (5, 2)), "7,3"), ("dashdot", (0, (6, 2, 1.5, 2)), "8,3,2,3"),
               ("dotted", (0, (1.2, 1.5)), "2,2.5")]

# Schedule families for small multiples (each schedule's ``family`` in its registration): a
# schedule the registry does not know is "other".
FAMILIES = {name: info.family for info in in_order() for name in (info.kind, *info.aliases)}
FAMILY_ORDER = list(REGISTRY_FAMILIES)
# the order series are listed in when nothing else decides (each schedule's ``order``: the d2l
# chapter's first); a config option of another name follows its kind.
SCHEDULE_ORDER = list(dict.fromkeys(
    name for info in in_order()
    for name in (info.kind, *info.aliases, *sorted(o for o, k in scheduler_kinds().items() if k == info.kind))))


def family(scheduler: str, kind: str | None = None) -> str:
    return FAMILIES.get(scheduler) or FAMILIES.get(kind or "") or "other"


@dataclass(frozen=True)
class Style:
    colour: str
    dash: object  # a matplotlib linestyle
    dash_name: str
    svg_dash: str


def assign_styles(series: list[tuple]) -> dict[str, Style]:
    """``series``: (label, scheduler name, kind, optimizer index[, runs]) for every series of the
    report, in report order. A schedule's preferred colour goes to its first series (the first
    optimizer's, then the one with the most runs, then report order); the others get colours no schedule of this report prefers, then any unused colour,
    and only past the palette's 20 a used colour with a line style not yet paired with it. The
    optimizer index shifts the line style (one optimizer: each schedule's own style)."""
    styles: dict[str, Style] = {}
    used: set[tuple[int, int]] = set()
    used_colours: set[int] = set()
    unique = [tuple(s) + (0,) * (5 - len(s)) for s in dict.fromkeys(series)]
    position = {s: i for i, s in enumerate(unique)}

    def preferred(s):
        return PREFERRED.get(s[1]) or PREFERRED.get(s[2] or "")

    claimed = {preferred(s)[0] for s in unique if preferred(s)}

    def take(s, colour: int, line: int) -> None:
        used.add((colour, line))
        used_colours.add(colour)
        name, dash, svg = LINE_STYLES[line]
        styles[s[0]] = Style(PALETTE[colour], dash, name, svg)

    # pass 1: each schedule's preferred colour, to its first series by optimizer then report order
    for s in sorted((s for s in unique if preferred(s)), key=lambda s: (s[3], -s[4], position[s])):
        colour, line = preferred(s)
        if colour not in used_colours and s[0] not in styles:
            take(s, colour, (line + s[3]) % len(LINE_STYLES))
    # pass 2: everything else, in report order
    for s in unique:
        if s[0] in styles:
            continue
        line = ((preferred(s) or (0, 0))[1] + s[3]) % len(LINE_STYLES)
        free = [c for c in range(len(PALETTE)) if c not in used_colours]
        choice = next((c for c in free if c not in claimed), free[0] if free else None)
        if choice is None:  # every colour taken: reuse one with a line style not yet paired with it
            pairs = [(c, (line + k) % len(LINE_STYLES)) for k in range(len(LINE_STYLES)) for c in range(len(PALETTE))]
            choice, line = next((p for p in pairs if p not in used), pairs[0])
        take(s, choice, line)
    return styles


def swatch_svg(style: Style) -> str:
    """A short line in the series' colour and dash pattern, for HTML tables."""
    dash = f' stroke-dasharray="{style.svg_dash}"' if style.svg_dash else ""
    return (f'<svg class="swatch" width="22" height="10" viewBox="0 0 22 10" aria-hidden="true">'
            f'<line x1="1" y1="5" x2="21" y2="5" stroke="{style.colour}" stroke-width="2.6"{dash}/></svg>')
