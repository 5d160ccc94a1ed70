"""Training pairs for the scope classifier, with hard negatives mined from the nearest edits.

For each training record (edit e_i with paraphrases, its own prompt and near-miss unrelated prompts):
- positives: (e_i, paraphrase of e_i) and (e_i, e_i's prompt itself);
- negatives: (e_i, unrelated prompt of record i): CounterFact's near miss, the same relation about
  another subject; and, for every query above, (e_j, query) for the `hard_negatives` edits j != i
  whose prompts are nearest to the query in embedding space (SERAC's "hard" setting);
- positives, too: (e_j, query) when the query asks the very fact e_j rewrites (core.evaluation.facts: e_j's
  prompt word for word, or e_j's subject in the query with the same true answer), e.g. record i's
  near miss "The twin city of Riga is" and record j's edit "Riga is a twin city of". 923 of
  CounterFact train's 10,000 near misses are such; as mined negatives they taught the classifier to
  reject edits' own prompts;
- negatives, too, when `subject_negatives` > 0: queries that name e_j's subject but ask another
  relation, or name a longer entity containing it (core.training.subject_negatives), that many of
  each kind per edit.

Invariant: a pair is labelled in scope only when the query belongs to that very edit or asks the fact
it rewrites; an edit j whose prompt text equals e_i's, or which rewrites the query's fact, is never
used as a negative for i's queries (it would be a contradiction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.datasets import EditCase
from core.embedder import Embedder
from core.evaluation.facts import FactIndex, unrelated_with_answers
from core.training.subject_negatives import longer_name_pairs, other_relation_pairs


@dataclass(frozen=True)
class ScopePair:
    edit_prompt: str
    query: str
    label: float  # 1.0 in scope, 0.0 out of scope


@dataclass(frozen=True)
class Query:
    text: str
    owner: int  # index of the record the query came from
    in_scope: bool  # True for the owner's paraphrases and prompt, False for its unrelated prompts
    rewriters: frozenset[int] = frozenset()  # other records whose edit rewrites the fact this query asks


def record_queries(cases: list[EditCase]) -> list[Query]:
    """Every probe of every record: its prompt, paraphrases (in scope) and unrelated prompts (out)."""
    facts = FactIndex(cases)

    def query(text: str, i: int, in_scope: bool, answer: str | None) -> Query:
        return Query(text, i, in_scope, frozenset(facts.rewriters(text, answer) - {i}))

    out = []
    for i, case in enumerate(cases):
        out.append(query(case.edit.prompt, i, True, case.old_target))
        out += [query(p, i, True, case.old_target) for p in case.paraphrases]
        out += [query(u, i, False, a) for u, a in unrelated_with_answers(case)]
    return out


def nearest_edits(query_vecs: np.ndarray, edit_vecs: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """(n_queries, k) indices of the edits with the highest cosine to each query, best first."""
    k = min(k, edit_vecs.shape[0])
    rows = []
    for start in range(0, query_vecs.shape[0], chunk):
        sims = query_vecs[start : start + chunk] @ edit_vecs.T  # (chunk, n_edits)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        rows.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, k), dtype=np.int64)


def mine_pairs(
    cases: list[EditCase], embedder: Embedder, hard_negatives: int, subject_negatives: int = 0, seed: int = 0
) -> list[ScopePair]:
    """Positives, near-miss negatives and mined hard negatives for all records (see module doc)."""
    prompts = [c.edit.prompt for c in cases]
    queries = record_queries(cases)
    edit_vecs = embedder.encode(prompts)
    query_vecs = embedder.encode([q.text for q in queries])
    near = nearest_edits(query_vecs, edit_vecs, hard_negatives + 4) if hard_negatives else None
    pairs = []
    for qi, q in enumerate(queries):
        pairs.append(ScopePair(prompts[q.owner], q.text, 1.0 if q.in_scope else 0.0))
        pairs += [ScopePair(prompts[j], q.text, 1.0) for j in sorted(q.rewriters)]
        if near is None:
            continue
        others = [
            j
            for j in near[qi]
            if j != q.owner and j not in q.rewriters and prompts[j].strip() != prompts[q.owner].strip()
        ]
        pairs += [ScopePair(prompts[j], q.text, 0.0) for j in others[:hard_negatives]]
    return pairs + _subject_pairs(cases, pairs, subject_negatives, seed)


def _subject_pairs(cases: list[EditCase], pairs: list[ScopePair], per_edit: int, seed: int) -> list[ScopePair]:
    """The subject negatives that are not already a pair (in scope or not) and not an edit's own prompt."""
    if per_edit == 0:
        return []
    found = other_relation_pairs(cases, per_edit, seed) + longer_name_pairs(cases, per_edit, seed + 1)
    return new_negatives(pairs, [(cases[j].edit.prompt, query) for j, query in found])


def new_negatives(pairs: list[ScopePair], candidates: list[tuple[str, str]]) -> list[ScopePair]:
    """(edit prompt, query) candidates as negatives, except those already a pair (in scope or not) and an
    edit's own prompt."""
    return new_pairs(pairs, candidates, 0.0)


def new_pairs(pairs: list[ScopePair], candidates: list[tuple[str, str]], label: float) -> list[ScopePair]:
    """(edit prompt, query) candidates with `label`, except those already a pair (in scope or not) and an
    edit's own prompt."""
    taken = {(p.edit_prompt, p.query) for p in pairs}
    out = []
    for edit_prompt, query in candidates:
        key = (edit_prompt, query)
        if key not in taken and query.strip() != edit_prompt.strip():
            taken.add(key)
            out.append(ScopePair(edit_prompt, query, label))
    return out
