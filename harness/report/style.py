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
# report; the second ten are dashed, so that two neighbours in the palette differ twice.
PREFERRED = {
    "constant": (0, 0), "sqrt": (1, 0), "factor": (2, 0), "multifactor": (3, 0), "cosine": (4, 0),
    "warmup": (5, 0), "warmup_cosine": (5, 0), "step": (6, 0), "exponential": (7, 0), "inverse_time": (8, 0),
    "polynomial": (9, 0), "linear_decay": (10, 1), "cosine_restarts": (11, 1), "sgdr": (11, 1),
    "warmup_linear": (12, 1), "noam": (13, 1), "inverse_sqrt": (13, 1), "onecycle": (14, 1), "cyclic": (15, 1),
    "wsd": (16, 1), "constant_warmup": (17, 1), "sequence": (18, 1), "plateau": (19, 1),
}
# matplotlib dash patterns; the names are for the HTML swatches (SVG stroke-dasharray)
LINE_STYLES = [("solid", "-", ""), ("dashed", (0, (5, 2)), "7,3"), ("dashdot", (0, (6, 2, 1.5, 2)), "8,3,2,3"),
               ("dotted", (0, (1.2, 1.5)), "2,2.5")]

# Schedule families for small multiples: a schedule the table does not know is "other".
FAMILIES = {
    "constant": "constant", "constant_warmup": "constant",
    "step": "step-wise decay", "multifactor": "step-wise decay", "factor": "smooth decay",
    "sqrt": "smooth decay", "exponential": "smooth decay", "inverse_time": "smooth decay",
    "polynomial": "smooth decay", "linear_decay": "smooth decay",
    "cosine": "cosine", "warmup": "cosine", "warmup_cosine": "cosine", "cosine_restarts": "cosine", "sgdr": "cosine",
    "warmup_linear": "warmup + decay", "noam": "warmup + decay", "inverse_sqrt": "warmup + decay",
    "wsd": "warmup + decay", "onecycle": "cyclic", "cyclic": "cyclic", "plateau": "adaptive",
}
FAMILY_ORDER = ["constant", "step-wise decay", "smooth decay", "cosine", "warmup + decay", "cyclic", "adaptive", "other"]
# the order series are listed in when nothing else decides (the d2l chapter's order first)
SCHEDULE_ORDER = ["constant", "sqrt", "factor", "multifactor", "cosine", "warmup", "step", "exponential",
                  "inverse_time", "polynomial", "linear_decay", "cosine_restarts", "warmup_linear", "noam",
                  "onecycle", "cyclic", "wsd", "constant_warmup", "sequence", "plateau"]


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
