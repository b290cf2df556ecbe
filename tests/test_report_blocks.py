"""harness/report/blocks.py: each block kind written as Markdown and as HTML, exactly; escaping;
tables and figures. The serialisers are pure: no file is read, the PNG comes in as bytes."""

from __future__ import annotations

import base64

import pytest

from harness.report.blocks import (
    BulletList, Column, Details, Figure, Heading, Paragraph, Table, TableCell, TableRow, Warnings, html_page,
    inline_html, to_html, to_markdown,
)
from harness.report.style import Style, swatch_svg

PNG = b"\x89PNG\r\n\x1a\n fake bytes"


def md(*blocks) -> str:
    return to_markdown(blocks)


def page(*blocks, images=None) -> str:
    return to_html(blocks, images or {})


def test_heading():
    assert md(Heading(1, "Title")) == "# Title\n"
    assert md(Heading(3, "Numbers")) == "### Numbers\n"
    assert page(Heading(2, "R&D <b>")) == "<h2>R&amp;D &lt;b&gt;</h2>"


def test_blocks_are_separated_by_one_blank_line():
    assert md(Heading(2, "A"), Paragraph("b"), Heading(2, "C")) == "## A\n\nb\n\n## C\n"


def test_paragraph_markup_emphasis_and_class():
    p = Paragraph("**bold** and `code` < 3 & 4")
    assert md(p) == "**bold** and `code` < 3 & 4\n"  # Markdown keeps the text as written
    assert page(p) == "<p><strong>bold</strong> and <code>code</code> &lt; 3 &amp; 4</p>"
    assert page(Paragraph("x", "notes")) == '<p class="notes">x</p>'
    plain = Paragraph("**not bold** 'q'", "meta", markup=False, emphasis="em")
    assert md(plain) == "_**not bold** 'q'_\n"
    assert page(plain) == '<p class="meta">**not bold** &#x27;q&#x27;</p>'
    strong = Paragraph("head", "headline", emphasis="strong")
    assert md(strong) == "**head**\n" and page(strong) == '<p class="headline">head</p>'


def test_bullet_list():
    items = ("one **1**", "two <2>")
    assert md(BulletList(items)) == "- one **1**\n- two <2>\n"
    assert page(BulletList(items)) == ('<ul class="findings"><li>one <strong>1</strong></li>'
                                       "<li>two &lt;2&gt;</li></ul>")
    assert page(BulletList(items, "notes", markup=False)) == ('<ul class="notes"><li>one **1**</li>'
                                                              "<li>two &lt;2&gt;</li></ul>")
    assert md(BulletList(())) == "" and page(BulletList(())) == '<ul class="findings"></ul>'


def test_warnings():
    w = Warnings(("a & b", "c"))
    assert md(w) == "> ⚠ a & b\n> ⚠ c\n"
    assert page(w) == '<p class="warn">⚠ a &amp; b</p><p class="warn">⚠ c</p>'


def test_figure_embeds_the_bytes_it_is_given():
    f = Figure("curves.png", 'alt "x" <y>', "Caption & more")
    assert md(f) == '![alt "x" <y>](curves.png)\n\n_Caption & more_\n'
    data = base64.b64encode(PNG).decode("ascii")
    assert page(f, images={"curves.png": PNG}) == (
        f'<figure><img alt="alt &quot;x&quot; &lt;y&gt;" src="data:image/png;base64,{data}">'
        "<figcaption>Caption &amp; more</figcaption></figure>")
    bare = Figure("grid.png", "grid")
    assert md(bare) == "![grid](grid.png)\n"
    assert page(bare, images={"grid.png": b""}) == '<figure><img alt="grid" src="data:image/png;base64,"></figure>'
    with pytest.raises(KeyError):
        page(f)  # no bytes for it: the serialiser reads no file


def _table(**kw) -> Table:
    return Table((Column("name", False), Column("acc | %", True)),
                 (TableRow((TableCell("a|b", "txt"), TableCell("90 < 91", "num")), "muted"),
                  TableRow((TableCell("c", "txt"), TableCell("**x**\ny", "num")))), **kw)


def test_table_markdown_aligns_and_escapes_pipes():
    assert md(_table()) == ("| name | acc | % |\n|:---|---:|\n| a\\|b | 90 < 91 |\n| c | **x**\ny |\n")
    # with markup a line break in a cell is <br> (a Markdown row is one line)
    assert md(_table(markup=True)).splitlines()[-1] == "| c | **x**<br>y |"
    plain = Table((Column("h"),), (TableRow((TableCell("v"),)),))
    assert md(plain) == "| h |\n|---|\n| v |\n"


def test_table_html():
    assert page(_table()) == (
        '<div class="scroll"><table class="results"><thead><tr><th class="txt">name</th>'
        '<th class="num">acc | %</th></tr></thead><tbody>'
        '<tr class="muted"><td class="txt">a|b</td><td class="num">90 &lt; 91</td></tr>'
        '<tr><td class="txt">c</td><td class="num">**x**\ny</td></tr></tbody></table></div>')
    marked = page(_table(markup=True, css_class="results claims"))
    assert '<table class="results claims">' in marked
    assert '<td class="num"><strong>x</strong><br>y</td>' in marked
    bare = page(Table((Column("h & k"),), (TableRow((TableCell("<v>"),)),), scroll=False))
    assert bare == '<table class="results"><tr><th>h &amp; k</th></tr><tr><td>&lt;v&gt;</td></tr></table>'
    assert page(Table((Column("h"),), (TableRow((TableCell("v"),), ""),))).count('<tr class="">') == 1


def test_table_swatch_before_the_escaped_text():
    style = Style("#123456", "--", "dashed", "7,3")
    html = page(Table((Column("schedule", False),), (TableRow((TableCell("a&b", "txt", style),)),)))
    assert f'<td class="txt">{swatch_svg(style)}a&amp;b</td>' in html
    assert md(Table((Column("schedule", False),), (TableRow((TableCell("a&b", "txt", style),)),))).endswith(
        "| a&b |\n")  # Markdown has no swatch


def test_details_folds_its_blocks():
    d = Details("Every run's verdict", (BulletList(("x <1>",), "notes", markup=False),))
    assert md(d) == "<details><summary>Every run's verdict</summary>\n\n- x <1>\n\n</details>\n"
    assert page(d) == ("<details><summary>Every run's verdict</summary>"
                       '<ul class="notes"><li>x &lt;1&gt;</li></ul></details>')


def test_page_wraps_the_body_and_escapes_the_title():
    html = html_page("A < B", "p{}", [Heading(1, "A < B")], {})
    assert html.startswith("<!doctype html>\n") and html.endswith("</main></body></html>\n")
    assert "<title>A &lt; B</title><style>p{}</style>" in html and "<main><h1>A &lt; B</h1></main>" in html


def test_inline_html():
    assert inline_html("**a** & `b<c>`") == "<strong>a</strong> &amp; <code>b&lt;c&gt;</code>"
    assert inline_html("a ** b") == "a ** b"  # an unpaired marker stays text


def test_not_a_block():
    with pytest.raises(TypeError):
        to_markdown(["text"])
    with pytest.raises(TypeError):
        to_html(["text"], {})
