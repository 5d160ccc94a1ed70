"""Token arrays for the fast routing path, built one text at a time from a private copy of the tokenizer's backend.

Why: a Hugging Face fast tokenizer's batch call hands a batch to a pool of worker threads. For a single
query's handful of texts that hand-off costs more than the tokenising: measured on the shared 2-core box
(load 4), 3 (edit, query) pairs took 3.3 ms wall (0.5 ms of it CPU) through `tokenizer(edits, queries)`,
0.25 ms here. The edit side of a pair is tokenised once and kept (a bounded LRU keyed by the text, so a
changed text is never served stale tokens); the query is tokenised once per call, however many edits it
is paired with; the backend's own post-processor adds the special tokens and type ids, so any tokenizer
template (BERT's [CLS] a [SEP] b [SEP], RoBERTa's) comes out as the tokenizer makes it.

Invariants:
- `encode` / `encode_pairs` return exactly the arrays `tokenizer(texts, padding=True, truncation=True,
  max_length=max_length, return_tensors="np")` returns (the same for pairs): `of` checks that on sample
  texts and returns None for a tokenizer where it does not hold (left padding, say); callers then use the
  tokenizer itself;
- the backend copy is private: the tokenizer's own padding and truncation settings, which its calls change,
  never reach it, and it is never changed after construction, so concurrent calls are safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

EDIT_CACHE = 16_384  # edit-side encodings kept (about 0.5 KB each: 8 MB at most)
CHECKS = (
    ("The mother tongue of Danielle Darrieux is", "Danielle Darrieux, a native"),
    ("Qui a écrit Les Misérables ?", "東京は日本の首都です。 Ünïcödé, tabs\tand  spaces"),
    ("x " * 300, "a query longer than the limit " * 20),  # both truncated (longest first)
)


class TokenArrays:
    """Input arrays (names among input_ids, attention_mask, token_type_ids) for single texts or pairs."""

    def __init__(self, tokenizer, names: Sequence[str], max_length: int):
        from tokenizers import Tokenizer

        self.names, self.max_length = tuple(names), max_length
        self.pad_id = int(tokenizer.pad_token_id or 0)
        spec = tokenizer.backend_tokenizer.to_str()
        self.backend, self.plain = Tokenizer.from_str(spec), Tokenizer.from_str(spec)  # plain: one side of a pair
        for backend in (self.backend, self.plain):
            backend.no_padding()
            backend.no_truncation()
        self.backend.enable_truncation(max_length)  # pairs are truncated as a whole, by post_process
        self._side = lru_cache(maxsize=EDIT_CACHE)(self._plain)

    @classmethod
    def of(cls, tokenizer, names: Sequence[str], max_length: int) -> TokenArrays | None:
        """A TokenArrays that makes exactly what `tokenizer` makes (checked on CHECKS), else None."""
        if getattr(tokenizer, "backend_tokenizer", None) is None or tokenizer.padding_side != "right":
            return None
        made = cls(tokenizer, names, max_length)
        firsts, seconds = [a for a, _ in CHECKS], [b for _, b in CHECKS]
        kw = dict(padding=True, truncation=True, max_length=max_length, return_tensors="np")
        same = _equal(made.encode(firsts), tokenizer(firsts, **kw), names) and _equal(
            made.encode_pairs(firsts, seconds), tokenizer(firsts, seconds, **kw), names
        )
        made._side.cache_clear()
        return made if same else None

    def _plain(self, text: str):
        return self.plain.encode(text, add_special_tokens=False)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Arrays of single texts (special tokens added, truncated to max_length), padded to the longest."""
        return self._arrays([self.backend.encode(t) for t in texts])

    def encode_pairs(self, firsts: Sequence[str], seconds: Sequence[str]) -> dict[str, np.ndarray]:
        """Arrays of (firsts[i], seconds[i]) pairs, padded to the longest; firsts' tokens come from the cache."""
        plain: dict[str, object] = {}
        rows = []
        for first, second in zip(firsts, seconds):
            if second not in plain:
                plain[second] = self._plain(second)
            rows.append(self.backend.post_process(self._side(first), plain[second]))
        return self._arrays(rows)

    def _arrays(self, encodings) -> dict[str, np.ndarray]:
        width = max((len(e.ids) for e in encodings), default=0)
        out = {n: np.zeros((len(encodings), width), np.int64) for n in self.names}
        if "input_ids" in out:
            out["input_ids"].fill(self.pad_id)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            if "input_ids" in out:
                out["input_ids"][row, :n] = e.ids
            if "attention_mask" in out:
                out["attention_mask"][row, :n] = e.attention_mask
            if "token_type_ids" in out:
                out["token_type_ids"][row, :n] = e.type_ids
        return out


def _equal(made: dict, reference, names: Sequence[str]) -> bool:
    return all(np.array_equal(made[n], np.asarray(reference[n])) for n in names)
