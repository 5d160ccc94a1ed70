"""Curators' text shown as text: the one place that turns a prompt, target, note, reason, user name or
error message into something a Markdown view, a plotly label or a spreadsheet cell displays literally.

Gradio's Markdown renders Markdown and HTML, and plotly renders a subset of HTML in labels and hovers:
a target `__24__` would show bold, `<b>` and `[x](url)` would render. `md` escapes text for a Markdown
view (HTML entities, then a backslash before every Markdown punctuation mark); `plot` escapes it for a
plotly label or hover (HTML entities). A right-to-left override or isolate the text opens and does not
close (U+202A-U+202E, U+2066-U+2068) is closed at the text's end by the matching invisible mark (U+202C,
U+2069), so it cannot reverse the app's own words around it. `spreadsheet` makes a CSV cell that a
spreadsheet shows as text instead of running it as a formula (OWASP CSV injection).

Invariant: what the curator typed is what they see, character for character (the stored text is never
changed; only invisible closing marks are added for display); the app's own formatting around it (bold
labels, arrows) is added after escaping; the app's own numbers stay numbers in a CSV.
"""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:>])")
_EMBEDDINGS, _ISOLATES = "\u202a\u202b\u202d\u202e", "\u2066\u2067\u2068"
_POP_EMBEDDING, _POP_ISOLATE = "\u202c", "\u2069"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula


def md(text: object) -> str:
    """Text for a Markdown view, shown literally (no emphasis, links, headings or HTML)."""
    escaped = html.escape(bidi_closed(str(text)), quote=False)
    return _MARKDOWN.sub(r"\\\1", escaped.replace("\n", " "))


def plot(text: object) -> str:
    """Text for a plotly label, title or hover, shown literally."""
    return html.escape(bidi_closed(str(text)), quote=False)


def bidi_closed(text: str) -> str:
    """The text with every direction override, embedding or isolate it leaves open closed at its end (UAX #9:
    a pop closes the innermost open one; an isolate's pop also closes the embeddings opened inside it)."""
    if not any(c in text for c in _EMBEDDINGS + _ISOLATES):
        return text
    stack: list[str] = []
    for c in text:
        if c in _EMBEDDINGS or c in _ISOLATES:
            stack.append(c)
        elif c == _POP_EMBEDDING and stack and stack[-1] in _EMBEDDINGS:
            stack.pop()
        elif c == _POP_ISOLATE and any(opened in _ISOLATES for opened in stack):
            while stack.pop() not in _ISOLATES:
                pass
    return text + "".join(_POP_ISOLATE if c in _ISOLATES else _POP_EMBEDDING for c in reversed(stack))


def spreadsheet(value: object) -> object:
    """A CSV cell: text starting with =, +, -, @, a tab or a carriage return gets a leading ' so a spreadsheet
    shows it as text instead of running it as a formula; anything else (the app's own numbers) as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
