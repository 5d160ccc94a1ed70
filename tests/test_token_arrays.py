"""core.token_arrays: the fast path's token arrays are exactly the tokenizer's, built without its batch call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from core.packaged import MINILM, resolve_model_path
from core.token_arrays import TokenArrays

NAMES = ["input_ids", "attention_mask", "token_type_ids"]
EDITS = [
    "The mother tongue of Danielle Darrieux is",
    "Who wrote Hamlet?",
    "L'île de Ré appartient à la région",
    "東京は日本の首都です",
    "word " * 200,  # longer than the limit alone: the pair is truncated longest-first
]
QUERIES = [
    "Where Danielle Darrieux is from, people speak the language of",
    "Hamlet was written by",
    "  tabs\tand\u00a0odd   spaces,  ÜNÏCÖDÉ  ",
    "What is the capital of Japan?",
    "Which word?",
]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_path(MINILM, Path(".")))


def _reference(tokenizer, *texts, max_length):
    return tokenizer(*texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")


@pytest.mark.parametrize("max_length", [128, 16])
def test_pairs_and_single_texts_equal_the_tokenizers_arrays(tokenizer, max_length):
    arrays = TokenArrays.of(tokenizer, NAMES, max_length)
    assert arrays is not None
    for rows in (slice(0, 1), slice(0, 3), slice(None)):  # one pair, a query's few, a padded batch with truncation
        made = arrays.encode_pairs(EDITS[rows], QUERIES[rows])
        ref = _reference(tokenizer, EDITS[rows], QUERIES[rows], max_length=max_length)
        for name in NAMES:
            assert made[name].dtype == np.int64
            np.testing.assert_array_equal(made[name], ref[name], err_msg=name)
        single = arrays.encode(QUERIES[rows])
        for name in NAMES:
            np.testing.assert_array_equal(
                single[name], _reference(tokenizer, QUERIES[rows], max_length=max_length)[name]
            )
    assert arrays.encode_pairs(EDITS, QUERIES)["input_ids"].shape == (5, max_length)  # the long pair was cut


def test_an_edit_side_is_tokenised_once_and_a_changed_text_is_never_stale(tokenizer):
    arrays = TokenArrays.of(tokenizer, NAMES, 128)
    first = arrays.encode_pairs([EDITS[0]] * 3, QUERIES[:3])
    again = arrays.encode_pairs([EDITS[0]], QUERIES[3:4])
    assert arrays._side.cache_info().hits == 3 and arrays._side.cache_info().misses == 1
    changed = arrays.encode_pairs([EDITS[0] + " still"], QUERIES[3:4])
    ref = _reference(tokenizer, [EDITS[0] + " still"], QUERIES[3:4], max_length=128)
    np.testing.assert_array_equal(changed["input_ids"], ref["input_ids"])
    assert changed["input_ids"].shape[1] == again["input_ids"].shape[1] + 1  # "still" is one more token
    assert (first["token_type_ids"][0] == 1).sum() == len(tokenizer(QUERIES[0])["input_ids"]) - 1  # query + [SEP]


def test_a_tokenizer_it_cannot_copy_exactly_is_left_to_itself(tokenizer):
    left = AutoTokenizer.from_pretrained(resolve_model_path(MINILM, Path(".")), padding_side="left")
    assert TokenArrays.of(left, NAMES, 128) is None  # left padding: callers keep the tokenizer's own call
