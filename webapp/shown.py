"""Curators' text shown as text: the one place that turns a prompt, target, note, reason, user name or
error message into something a Markdown view or a plotly label displays literally.

Gradio's Markdown renders Markdown and HTML, and plotly renders a subset of HTML in labels and hovers:
a target `__24__` would show bold, `<b>` and `[x](url)` would render. `md` escapes text for a Markdown
view (HTML entities, then a backslash before every Markdown punctuation mark); `plot` escapes it for a
plotly label or hover (HTML entities).

Invariant: what the curator typed is what they see, character for character; the app's own formatting
around it (bold labels, arrows) is added after escaping.
"""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:>])")


def md(text: object) -> str:
    """Text for a Markdown view, shown literally (no emphasis, links, headings or HTML)."""
    escaped = html.escape(str(text), quote=False)
    return _MARKDOWN.sub(r"\\\1", escaped.replace("\n", " "))


def plot(text: object) -> str:
    """Text for a plotly label, title or hover, shown literally."""
    return html.escape(str(text), quote=False)
