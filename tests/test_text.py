import pytest

from core.errors import InvalidInput
from core.text import answer_starts_with, clean_field, first_line, normalize_answer


@pytest.mark.parametrize(
    "answer,target,expected",
    [
        ("English", "English", True),
        (" english.", "English", True),
        ("English, of course", "English", True),
        ('"English"', "English", True),
        ("Englishman", "English", False),
        ("French", "English", False),
        ("", "English", False),
        ("New York City", "New York", True),
        ("new  york", "New York", True),
        ("anything", "", False),
    ],
)
def test_answer_starts_with(answer, target, expected):
    assert answer_starts_with(answer, target) is expected


def test_normalize_and_first_line():
    assert normalize_answer("  Paris!! ") == "paris"
    assert first_line(" Paris.\n\nThe answer is") == "Paris."


@pytest.mark.parametrize(
    "value,message",
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "required"),
        (3, "must be text"),
        ("a\x00b", "control characters"),
        ("x" * 20, "limit is 10"),
    ],
)
def test_clean_field_rejects(value, message):
    with pytest.raises(InvalidInput, match=message):
        clean_field("prompt", value, 10)


def test_clean_field_strips_and_allows_optional_blank():
    assert clean_field("prompt", "  hi  ", 10) == "hi"
    assert clean_field("notes", "  ", 10, required=False) is None


def test_clean_field_refuses_exactly_the_surrogates_and_controls_unicode_names():
    """clean_field's two regular expressions against Unicode's own categories, at every code point: a surrogate
    (Cs) is 'not valid UTF-8', a control (Cc) other than tab and newline is named, everything else is kept."""
    import unicodedata

    for point in range(0x110000):
        char = chr(point)
        category = unicodedata.category(char)
        try:
            kept = clean_field("prompt", f"a{char}b", 4096) == f"a{char}b"
            message = ""
        except InvalidInput as exc:
            kept, message = False, str(exc)
        if category == "Cs":
            assert message == "prompt is not valid UTF-8 text", hex(point)
        elif category == "Cc" and char not in "\t\n":
            assert message == f"prompt contains control characters ({ascii(char)})", hex(point)
        else:
            assert kept, hex(point)
