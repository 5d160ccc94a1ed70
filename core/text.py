"""Checks on text coming in (prompts, targets), normalisation of answers going out, and `hide_password`, which
keeps a database password out of any message.

Invariant: `clean_field` either returns the stripped text or raises InvalidInput; it never
silently alters content beyond surrounding whitespace. `TEXT_PATTERN` and `REQUIRED_TEXT_PATTERN` say the same
rule as JSON-schema patterns (the API's OpenAPI document), character for character (tests/test_text.py).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from core.errors import InvalidInput

_PUNCT_EDGES = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
_SPACES = re.compile(r"\s+")

# The rule of clean_field, written as regular expressions that ECMA-262 (JSON schema), Python and Rust read alike:
# no control character (Unicode Cc) but tab and newline; a required field also holds one character that is
# neither such a control character nor whitespace that str.strip() removes. Lengths are the schema's maxLength.
_NOT_CONTROL = r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]"
_VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT_PATTERN = f"^{_NOT_CONTROL}*$"
REQUIRED_TEXT_PATTERN = f"^{_NOT_CONTROL}*{_VISIBLE}{_NOT_CONTROL}*$"
# Unicode's categories Cs (surrogates) and Cc (controls) are exactly these ranges (tests/test_text.py checks every
# code point); one regex search instead of a category lookup per character (a 100,000-edit import checks ~1M fields).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_field(name: str, value: object, max_chars: int, required: bool = True) -> str | None:
    """Validate one text field: a string, not blank (when required), no control characters, bounded."""
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidInput(f"{name} must not be empty or whitespace")
    if len(text) > max_chars:
        raise InvalidInput(f"{name} is {len(text)} characters; the limit is {max_chars}")
    if _SURROGATE.search(text):
        raise InvalidInput(f"{name} is not valid UTF-8 text")
    bad = _CONTROL.search(text)
    if bad:
        raise InvalidInput(f"{name} contains control characters ({ascii(bad.group())})")
    return text


def normalize_answer(text: str) -> str:
    """Lower-case, collapse spaces and drop punctuation at both ends: the form answers are compared in."""
    return _PUNCT_EDGES.sub("", _SPACES.sub(" ", text).strip().lower())


def prompt_key(prompt: str) -> str:
    """The form two prompts are compared in: "the same prompt" means the same key (conflicts, imports, routing)."""
    return normalize_answer(prompt)


def answer_starts_with(answer: str, target: str) -> bool:
    """True when the answer begins with the target, ignoring case, spaces and edge punctuation."""
    want = normalize_answer(target)
    got = normalize_answer(answer)
    if not want:
        return False
    if not got.startswith(want):
        return False
    rest = got[len(want) :]
    return not rest or not rest[0].isalnum()


def same_answer(answer: str | None, base_answer: str | None) -> bool:
    """ "The answer is unchanged": both match after normalisation (an empty answer matches only an empty
    one). The one rule behind eval's locality and the UI's out-of-scope probe verdicts."""
    return normalize_answer(answer or "") == normalize_answer(base_answer or "")


def first_line(generated: str) -> str:
    """The generated continuation up to its first line break, stripped."""
    return generated.strip().split("\n", 1)[0].strip()


def hide_password(text: str, url: str) -> str:
    """`text` with the password of database URL `url` (as written, and URL-decoded) replaced by ***: for any
    message that might quote the URL or a driver's error about it."""
    scheme, sep, rest = url.partition("://")
    creds = rest.rpartition("@")[0] if sep else ""
    password = creds.split(":", 1)[1] if ":" in creds else ""
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text
