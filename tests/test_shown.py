"""Curators' text is shown as text: the escaping every Markdown view and plotly label goes through, the
right-to-left marks it leaves open closed at its end, and CSV cells a spreadsheet would run as formulas."""

import html

import markdown_it
import pytest

from webapp.shown import bidi_closed, md, plot, spreadsheet

RLO, PDF, RLI, PDI, ZWSP = "\u202e", "\u202c", "\u2067", "\u2069", "\u200b"

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
    "<script>window.__pwned=1</script>",
    "![logo](http://evil.example/x.png)",
    "<a href=http://evil.example>x</a>",
    "Zq" * 1500,  # a 3,000-character word
    f"zero{ZWSP}width",
    "\u05e9\u05dc\u05d5\u05dd (Hebrew, right to left by itself)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_views_show_the_text_literally(text):
    """Rendered by a CommonMark renderer (Gradio's Markdown is one), the escaped text is the text itself."""
    rendered = markdown_it.MarkdownIt("commonmark").render(md(text))
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n")
    inner = rendered[3:-5]
    assert "<" not in inner.replace("&lt;", "") and ">" not in inner.replace("&gt;", "")  # no markup at all
    assert html.unescape(inner) == text


def test_plot_labels_escape_html():
    assert plot("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert plot("Paris") == "Paris"


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        (f"{RLO}txet desrever", f"{RLO}txet desrever{PDF}"),  # an override left open is closed at the end
        (f"{RLI}a{RLO}b", f"{RLI}a{RLO}b{PDF}{PDI}"),  # innermost first
        (f"{RLO}a{PDF} b", f"{RLO}a{PDF} b"),  # already closed: unchanged
        (f"{RLI}a{RLO}b{PDI}", f"{RLI}a{RLO}b{PDI}"),  # an isolate's pop also closes what opened inside it
        (f"a{PDF}{PDI}b", f"a{PDF}{PDI}b"),  # stray pops close nothing and are kept
        ("plain text", "plain text"),
    ],
)
def test_right_to_left_marks_left_open_are_closed_at_the_end_of_the_text(text, closed):
    """An unclosed U+202E in a target would reverse the app's own words after it ("→ Paris", "scored 0.9")."""
    assert bidi_closed(text) == closed
    rendered = markdown_it.MarkdownIt("commonmark").render("**Target:** " + md(text) + " → done")
    assert html.unescape(rendered) == f"<p><strong>Target:</strong> {closed} → done</p>\n"
    assert plot(text) == html.escape(closed, quote=False)


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.example")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(text):
    assert spreadsheet(text) == "'" + text


@pytest.mark.parametrize("value", ["Paris", "2026-11-22 10:00:00", '{"target": "=1"}', " =1", "", 12, -3, -0.5, None])
def test_other_csv_cells_and_the_apps_own_numbers_stay_as_they_are(value):
    assert spreadsheet(value) is value
