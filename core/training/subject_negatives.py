"""Scope negatives built from the records' subjects: queries that name an edit's subject yet ask
something else, so the classifier cannot learn "the subject is in the query" as a shortcut.

Measured before this module (30-min model, CounterFact val with 1,000 edits loaded at once): of the
12 near misses wrongly routed to an edit that does not rewrite their fact, 5 named a longer entity
that contains the edit's subject and 4 asked another relation of the edit's subject; the same run
with 2 of each kind per edit changed 4 such near misses in all. Two kinds:
- another relation: (e_j, t(s_j)) with t a prompt template of a relation group other than e_j's,
  e.g. edit "Helsinki is located in" and query "The official language of Helsinki is";
- a longer name: (e_j, t_j(s_i)) and (e_i, t_i(s_j)) when s_j occurs whole-word inside another
  record's subject s_i, e.g. edit "Sydney is located in" and query "Sydney Olympic FC is located in"
  (508 such subject pairs in CounterFact train + zsRE dev; a different entity nearly always).

Templates: a record's prompt with its subject cut out ("{} is located in"). Relation groups: templates
of at least MIN_RECORDS records, joined (union-find) when their records' answers, old and new, share
at least MIN_SHARED_ANSWERS values. On CounterFact train + zsRE dev that gives 6 groups of 184 templates
(places, languages and occupations, sports and instruments, positions, organizations, religions):
coarse on purpose: it errs toward fewer negatives rather than toward splitting one relation in two.

Invariant: deterministic for a seed; a template outside the groups is never called another relation;
the caller drops any pair that is also a positive.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence

from core.datasets import EditCase
from core.evaluation.facts import whole_words
from core.text import normalize_answer

MIN_RECORDS = 10
MIN_SHARED_ANSWERS = 3


def template(case: EditCase) -> str | None:
    """The case's prompt with its subject replaced by '{}', or None when the subject is not in it."""
    subject = (case.edit.subject or "").strip()
    prompt = case.edit.prompt
    if not subject or subject not in prompt or "{" in prompt or "}" in prompt:
        return None
    return prompt.replace(subject, "{}", 1)


def relation_groups(cases: Sequence[EditCase]) -> dict[str, int]:
    """Template -> relation group id, for the templates common enough to place (see module doc)."""
    answers: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for case in cases:
        t = template(case)
        if t is not None:
            counts[t] += 1
            answers[t] |= {normalize_answer(a) for a in (case.old_target, case.edit.target) if a}
    common = sorted(t for t in counts if counts[t] >= MIN_RECORDS)
    parent = {t: t for t in common}

    def root(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for a, first in enumerate(common):
        for second in common[a + 1 :]:
            if len(answers[first] & answers[second]) >= MIN_SHARED_ANSWERS:
                parent[root(first)] = root(second)
    roots = sorted({root(t) for t in common})
    return {t: roots.index(root(t)) for t in common}


def other_relation_pairs(cases: Sequence[EditCase], per_edit: int, seed: int) -> list[tuple[int, str]]:
    """(edit index j, query) with j's subject in a template of another relation group."""
    groups = relation_groups(cases)
    by_group: dict[int, list[str]] = defaultdict(list)
    for t, g in sorted(groups.items()):
        by_group[g].append(t)
    rng = random.Random(seed)
    out = []
    for j, case in enumerate(cases):
        own = groups.get(template(case) or "")
        others = [g for g in by_group if g != own]
        if own is None or not others:
            continue
        for _ in range(per_edit):
            out.append((j, rng.choice(by_group[rng.choice(others)]).format(case.edit.subject.strip())))
    return out


def longer_name_pairs(cases: Sequence[EditCase], per_edit: int, seed: int) -> list[tuple[int, str]]:
    """(edit index, query) where the query names a longer subject containing the edit's, or the reverse."""
    by_subject: dict[str, list[tuple[int, str]]] = defaultdict(list)  # subject -> (edit index, template)
    for j, case in enumerate(cases):
        t = template(case)
        if t is not None:
            by_subject[case.edit.subject.strip()].append((j, t))
    rng = random.Random(seed)
    found: dict[int, list[str]] = defaultdict(list)
    for short, long in contained_subjects(sorted(by_subject)):
        for j, t in by_subject[short]:
            found[j].append(t.format(long))
        for i, t in by_subject[long]:
            found[i].append(t.format(short))
    out = []
    for j in sorted(found):
        queries = sorted(set(found[j]))
        out += [(j, q) for q in rng.sample(queries, min(per_edit, len(queries)))]
    return out


def contained_subjects(subjects: Sequence[str]) -> list[tuple[str, str]]:
    """(short, long) for subjects where `short` occurs whole-word (case ignored) inside a different `long`.

    A leading article does not make a different name ("Beatles" and "The Beatles" are one entity)."""
    by_word: dict[str, set[str]] = defaultdict(set)
    for s in subjects:
        for w in _words(s):
            by_word[w].add(s)
    out = []
    for short in subjects:
        words = _words(short)
        if not words:
            continue
        pattern = whole_words(short)
        for long in sorted(set.intersection(*(by_word[w] for w in words))):
            if _bare(long) != _bare(short) and pattern.search(long):
                out.append((short, long))
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _bare(name: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", name.strip().lower())
