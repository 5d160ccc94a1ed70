"""What a person sees of a Markdown message: rendered by a CommonMark renderer (as Gradio's Markdown view
renders it), tags dropped, entities decoded. Tests compare messages through this, so escaping is checked
as shown, not as typed."""

import html
import re

import markdown_it

_RENDER = markdown_it.MarkdownIt("commonmark")
_TAG = re.compile(r"<[^>]+>")


def seen(message: str) -> str:
    return html.unescape(_TAG.sub("", _RENDER.render(message))).strip()
