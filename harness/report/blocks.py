"""The reports' documents as one list of blocks, and the two ways of writing it: Markdown and HTML.

A report is built once, as a list of blocks (a heading, a paragraph, a list, a table, a figure,
a box of warnings, a folded section); ``to_markdown`` and ``to_html`` turn that one list into
``report.md`` and into the body of ``index.html``. Both are pure functions of the blocks: no
numbers are computed and no file is read or written here. A figure's PNG is given to
``to_html`` as bytes (it embeds them); the Markdown names the file beside it.

Text is plain unless a block says ``markup``: then it may hold the findings' tiny Markdown
(``**bold**``, ```code```), which the Markdown keeps as it is and the HTML turns into tags. HTML
text is always escaped first.

>>> to_markdown([Heading(2, "Runs"), BulletList(("a", "b"))])
'## Runs\\n\\n- a\\n- b\\n'
>>> to_html([Heading(2, "R&D"), Paragraph("**5** < 6", "notes")], {})
'<h2>R&amp;D</h2><p class="notes"><strong>5</strong> &lt; 6</p>'
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

from harness.report.style import Style, swatch_svg


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = the title
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    css_class: str = ""  # the HTML class ("headline", "meta", "notes"); none when empty
    markup: bool = True  # the text holds inline Markdown; False: escaped as it is in HTML
    emphasis: str = ""  # Markdown only (HTML styles it by its class): "strong" (**text**) or "em" (_text_)


@dataclass(frozen=True)
class BulletList:
    items: tuple[str, ...]
    css_class: str = "findings"
    markup: bool = True


@dataclass(frozen=True)
class Warnings:
    """Warnings, one box each in HTML, a quoted ⚠ line each in Markdown."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    name: str  # the PNG's file name beside report.md; to_html embeds its bytes
    alt: str
    caption: str = ""  # none when empty


@dataclass(frozen=True)
class Column:
    header: str
    numeric: bool | None = None  # right-aligned (True) or left (False); None: neither said


@dataclass(frozen=True)
class TableCell:
    text: str
    css_class: str | None = None  # the td's class; None: no class attribute
    swatch: Style | None = None  # a line in the series' colour before the text (HTML only)


@dataclass(frozen=True)
class TableRow:
    cells: tuple[TableCell, ...]
    css_class: str | None = None  # the tr's class ("group", "muted", or "" for an empty one); None: none


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    css_class: str = "results"
    markup: bool = False  # cells hold inline Markdown and line breaks (\n: <br>)
    scroll: bool = True  # HTML: in a scrolling box, with thead and tbody; False: a bare table


@dataclass(frozen=True)
class Details:
    """A folded section: its summary line, then its blocks."""

    summary: str
    blocks: tuple[Block, ...]


Block = Union[Heading, Paragraph, BulletList, Warnings, Figure, Table, Details]


# the stylesheet of every report page (a study may add rules of its own)
CSS = """
:root { --ink:#1d1d1f; --muted:#6b6b70; --rule:#e2e2e6; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f6f8; color:var(--ink);
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 32px 40px 64px; background:#fff; min-height:100vh; }
h1 { font-size: 30px; line-height:1.2; margin: 0 0 6px; letter-spacing:-0.01em; }
h2 { font-size: 23px; margin: 48px 0 8px; padding-top: 16px; border-top: 2px solid var(--rule); }
h3 { font-size: 18px; margin: 28px 0 6px; }
.meta { color: var(--muted); font-size: 14px; margin: 0 0 20px; }
.headline { font-size: 20px; line-height: 1.45; background: #eef5fb; border-left: 5px solid var(--accent);
  padding: 14px 18px; margin: 18px 0 8px; border-radius: 0 6px 6px 0; }
.findings li { margin: 4px 0; }
.warn { background:#fff6e5; border-left: 5px solid #E69F00; padding: 8px 14px; border-radius: 0 6px 6px 0; }
figure { margin: 18px 0 26px; }
figure img { display:block; max-width:100%; height:auto; border:1px solid var(--rule); border-radius:4px; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 12px; width: 100%; }
th, td { padding: 5px 6px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: #fafafc; font-weight: 600; border-bottom: 2px solid #cfcfd6; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.txt, th.txt { text-align: left; white-space: nowrap; }
tr.group td { border-top: 2px solid #cfcfd6; }
tr.muted td { color: var(--muted); }
tbody tr:hover td { background: #f7fbff; }
.notes { color: var(--muted); font-size: 14px; }
.scroll { overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
  background:#f2f2f5; padding: 1px 4px; border-radius: 3px; }
"""
CSS += """
.swatch { display:inline-block; width:22px; height:10px; margin-right:7px; vertical-align:0; border-radius:0; }
table.ranking { width:auto; min-width: 50%; }
td.wrap { white-space: normal; min-width: 130px; max-width: 180px; }
td.num.wrap { min-width: 120px; max-width: 170px; }
"""


# ------------------------------------------------------------------------------- Markdown


def to_markdown(blocks: Iterable[Block]) -> str:
    """The blocks as Markdown, each followed by a blank line."""
    return "\n".join(line for block in blocks for line in _markdown_lines(block))


def _markdown_cell(text: str, markup: bool) -> str:
    text = text.replace("|", "\\|")
    return text.replace("\n", "<br>") if markup else text


def _markdown_lines(block: Block) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text, ""]
    if isinstance(block, Paragraph):
        mark = {"": "", "strong": "**", "em": "_"}[block.emphasis]
        return [f"{mark}{block.text}{mark}", ""]
    if isinstance(block, BulletList):
        return [f"- {item}" for item in block.items] + [""]
    if isinstance(block, Warnings):
        return [f"> ⚠ {w}" for w in block.items] + [""]
    if isinstance(block, Figure):
        return [f"![{block.alt}]({block.name})", ""] + ([f"_{block.caption}_", ""] if block.caption else [])
    if isinstance(block, Table):
        align = {True: "---:", False: ":---", None: "---"}
        return (["| " + " | ".join(c.header for c in block.columns) + " |",
                 "|" + "|".join(align[c.numeric] for c in block.columns) + "|"]
                + ["| " + " | ".join(_markdown_cell(cell.text, block.markup) for cell in row.cells) + " |"
                   for row in block.rows]
                + [""])
    if isinstance(block, Details):
        return ([f"<details><summary>{block.summary}</summary>", ""]
                + [line for b in block.blocks for line in _markdown_lines(b)] + ["</details>", ""])
    raise TypeError(f"not a block: {block!r}")


# ----------------------------------------------------------------------------------- HTML


def inline_html(text: str) -> str:
    """The findings' tiny Markdown (**bold**, `code`) as HTML, the rest escaped."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def to_html(blocks: Iterable[Block], images: Mapping[str, bytes]) -> str:
    """The blocks as HTML (the inside of <main>); ``images``: each figure's PNG bytes by name."""
    return "".join(_html(block, images) for block in blocks)


def html_page(title: str, css: str, blocks: Iterable[Block], images: Mapping[str, bytes]) -> str:
    """A self-contained page: the stylesheet inline, the figures embedded."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{css}</style></head>"
            f"<body><main>{to_html(blocks, images)}</main></body></html>\n")


def _attr(css_class: str | None) -> str:
    return "" if css_class is None else f' class="{css_class}"'


def _text(text: str, markup: bool) -> str:
    return inline_html(text) if markup else html.escape(text)


def _html_table(t: Table) -> str:
    head = "".join(f"<th{_attr(None if c.numeric is None else 'num' if c.numeric else 'txt')}>"
                   f"{html.escape(c.header)}</th>" for c in t.columns)
    rows = []
    for row in t.rows:
        cells = []
        for cell in row.cells:
            value = ("<br>".join(inline_html(part) for part in cell.text.split("\n")) if t.markup
                     else html.escape(cell.text))
            if cell.swatch is not None:
                value = swatch_svg(cell.swatch) + value
            cells.append(f"<td{_attr(cell.css_class)}>{value}</td>")
        rows.append(f"<tr{_attr(row.css_class)}>" + "".join(cells) + "</tr>")
    if not t.scroll:
        return f'<table class="{t.css_class}"><tr>{head}</tr>{"".join(rows)}</table>'
    return (f'<div class="scroll"><table class="{t.css_class}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _html(block: Block, images: Mapping[str, bytes]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p{_attr(block.css_class or None)}>{_text(block.text, block.markup)}</p>"
    if isinstance(block, BulletList):
        return (f"<ul{_attr(block.css_class or None)}>"
                + "".join(f"<li>{_text(item, block.markup)}</li>" for item in block.items) + "</ul>")
    if isinstance(block, Warnings):
        return "".join(f'<p class="warn">⚠ {html.escape(w)}</p>' for w in block.items)
    if isinstance(block, Figure):
        data = base64.b64encode(images[block.name]).decode("ascii")
        caption = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
        return f'<figure><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">{caption}</figure>'
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Details):
        return (f"<details><summary>{html.escape(block.summary, quote=False)}</summary>"
                + to_html(block.blocks, images) + "</details>")
    raise TypeError(f"not a block: {block!r}")
