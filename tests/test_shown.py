"""Curators' text is shown as text: the escaping every Markdown view and plotly label goes through."""

import markdown_it
import pytest

from webapp.shown import md, plot

HOSTILE = [
    "__24__",
    "<b>bold</b>",
    "[click](http://evil.example)",
    "<img src=x onerror=alert(1)>",
    "# heading",
    "* item",
    "`code`",
    "a | b | c",
    "1. first",
    "~~gone~~",
    "\\*kept\\*",
    "Ann & Bob <ann@x.org>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_views_show_the_text_literally(text):
    """Rendered by a CommonMark renderer (Gradio's Markdown is one), the escaped text is the text itself."""
    rendered = markdown_it.MarkdownIt("commonmark").render(md(text))
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n")
    inner = rendered[3:-5]
    assert "<" not in inner.replace("&lt;", "") and ">" not in inner.replace("&gt;", "")  # no markup at all
    import html

    assert html.unescape(inner) == text


def test_plot_labels_escape_html():
    assert plot("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert plot("Paris") == "Paris"
