"""Which loaded edits rewrite the very fact a probe asks about (a benchmark's near miss can).

CounterFact's locality prompt of record i is a near miss: the same relation about another subject.
With many records loaded at once, that other subject is sometimes the subject of another loaded record
j, e.g. i's unrelated prompt "Nintendo DS, developed by" and j's edit "Nintendo DS is developed by".
Then the prompt is in j's scope: routing it to j is right and its answer must change, although the
benchmark counts it as a locality failure. The same holds while training: such a pair is no negative.

Rule (from the records alone, no model): a probe whose true answer is `a` asks the fact that case j
rewrites when
- the probe is j's edit prompt word for word (normalized): whatever the benchmark says its answer is,
  the edit applies to its own prompt (226 of CounterFact train's near misses are another record's
  prompt, mostly twin cities, which have several true answers); or
- j's subject occurs in the probe (whole words, case ignored) and `a` equals j's old answer (normalized).
So it misses some real collisions (a reworded question about a city with several twin cities) and
flags few false ones.

Invariant: pure and deterministic; the subject rule needs the case's subject and old answer and the
probe's true answer, the prompt rule needs nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.datasets import EditCase
from core.text import normalize_answer


class FactIndex:
    """The cases' prompts and (subject, old answer) facts, looked up by a probe's text and true answer."""

    def __init__(self, cases: Sequence[EditCase]):
        self._by_answer: dict[str, list[tuple[int, re.Pattern]]] = {}
        self._by_prompt: dict[str, list[int]] = {}
        for j, case in enumerate(cases):
            self._by_prompt.setdefault(normalize_answer(case.edit.prompt), []).append(j)
            subject, old = case.edit.subject, case.old_target
            if subject and subject.strip() and old and normalize_answer(old):
                self._by_answer.setdefault(normalize_answer(old), []).append((j, whole_words(subject)))

    def rewriters(self, probe: str, answer: str | None) -> set[int]:
        """Indices of the cases whose edit rewrites the fact `probe` asks (its true answer `answer`)."""
        same_prompt = set(self._by_prompt.get(normalize_answer(probe), ()))
        if not answer:
            return same_prompt
        return same_prompt | {
            j for j, pattern in self._by_answer.get(normalize_answer(answer), ()) if pattern.search(probe)
        }


def whole_words(name: str) -> re.Pattern:
    """A pattern finding `name` (stripped) as whole words, case ignored: "Riga" in "of Riga is", not in "Rigas"."""
    return re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)", re.IGNORECASE)


def unrelated_with_answers(case: EditCase) -> list[tuple[str, str | None]]:
    """The case's unrelated prompts, each with its true answer when the record gives one."""
    answers = list(case.unrelated_answers) + [None] * len(case.unrelated)
    return list(zip(case.unrelated, answers))
