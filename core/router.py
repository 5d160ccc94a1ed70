"""The router: retrieve top-k candidate edits, score them, and pick the edit that governs the query.

Rule (SERAC): take the candidate with the highest scope score; if that score is at or above the
threshold, the counterfactual model answers with that edit, otherwise the base model answers.
Ties on score break on higher similarity, then on the lower (older) edit id, so routing is
deterministic. One exception: an edit governs its own prompt. When the query is an in-scope candidate's
prompt (core.text.prompt_key: case, spacing and edge punctuation ignored), that candidate is chosen even if
another edit scores a little higher (two edits of one fact kept on purpose score within 1e-3 of each other,
and float noise decided which answered the other's very prompt).

Invariant: `route` never re-encodes edits: cost per query is one query embedding, one index
search and k scorer calls.

Similarity cut-off (fast routing, `skip`): a candidate whose cosine similarity to the query is below
`skip.similarity`, or more than `skip.gap` below the best-matching candidate's, is not sent to the scope
classifier when the threshold is at least `skip.min_threshold`; it stays among the candidates (its
similarity is real) with score 0.0. The most similar candidate is always scored unless the absolute
cut-off rules it out. On dev data no pair beyond either cut-off scored as high as `min_threshold`
(core.benchmarks.cutoff measures it), so such a candidate can never be the one chosen at those
thresholds: the decision is the one full scoring makes. Below `min_threshold` (the threshold sweep
routes at 0.0) every candidate is scored.

No dominance rule (measured by `scripts/routing_cutoff.py --dominant`, core.benchmarks.cutoff.dominance_summary):
leaving unscored the candidates more than 0.05 below a most similar candidate that scored >= 0.99 would save
0.21 of 2.29 scored pairs per probe on 10,665 top-5 dev pairs (at 10,000 edits 0.6 of 3.04) and changed no
decision there, but with no margin: a skipped pair came within 4.5e-5 of the dominant one ("BBC Two is sold
by": "BBC Two's owner" 0.99337, "BBC One, by" 0.99332, 0.224 less similar), and at 0.9, or a gap of 0,
decisions changed. The trained classifier scores a relation's near misses up to 0.99 too, so a high score of
the most similar candidate rules no other out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from core.embedder import Embedder
from core.memory import EditMemory
from core.scope import ScopeClassifier
from core.text import prompt_key
from core.types import Candidate, RoutingDecision, Timings, unrouted


class Router(Protocol):
    def route(self, queries: Sequence[str], threshold: float) -> tuple[list[RoutingDecision], Timings]: ...


def choose(candidates: Sequence[Candidate], threshold: float, query: str | None = None) -> Candidate | None:
    """The in-scope candidate whose prompt is the query, else the best-scoring candidate when it reaches the
    threshold, else None."""
    return first_in_scope(rank(candidates, threshold, query), threshold)


def first_in_scope(ranked: Sequence[Candidate], threshold: float) -> Candidate | None:
    """The first of candidates already in `rank` order when it reaches the threshold, else None."""
    return ranked[0] if ranked and ranked[0].score >= threshold else None


def rank(candidates: Sequence[Candidate], threshold: float = 0.0, query: str | None = None) -> tuple[Candidate, ...]:
    """Candidates ordered as `choose` prefers them (with `query`: its own edit first when in scope)."""
    own = None if query is None else prompt_key(query)

    def order(c: Candidate) -> tuple:
        governs = own is not None and c.score >= threshold and prompt_key(c.edit.prompt) == own
        return (not governs, -c.score, -c.similarity, c.edit.id)

    return tuple(sorted(candidates, key=order))


@dataclass(frozen=True)
class SimilarityCutoff:
    """Candidates below `similarity`, or more than `gap` below the query's most similar candidate, go
    unscored at thresholds of at least `min_threshold` (gap None: no relative cut-off)."""

    similarity: float
    min_threshold: float
    gap: float | None = None

    def scored(self, candidates: Sequence[Candidate], threshold: float) -> list[Candidate]:
        """The candidates the classifier must score at this threshold."""
        if threshold < self.min_threshold or not candidates:
            return list(candidates)
        floor = self.similarity
        if self.gap is not None:
            floor = max(floor, max(c.similarity for c in candidates) - self.gap)
        return [c for c in candidates if c.similarity >= floor]


class ScopeRouter:
    """Embedding retrieval (faiss) narrows the candidates; the scope classifier decides."""

    def __init__(
        self,
        embedder: Embedder,
        memory: EditMemory,
        classifier: ScopeClassifier,
        top_k: int,
        skip: SimilarityCutoff | None = None,
    ):
        self.embedder, self.memory, self.classifier, self.top_k = embedder, memory, classifier, top_k
        self.skip = skip

    def route(self, queries: Sequence[str], threshold: float) -> tuple[list[RoutingDecision], Timings]:
        """Decisions for a batch of queries, with the per-query share of each step's time."""
        if len(self.memory) == 0:  # nothing to retrieve: skip the embedder
            return unrouted(queries, threshold), Timings()
        t0 = time.perf_counter()
        vectors = self.embedder.encode(queries)  # (n, dim)
        t1 = time.perf_counter()
        hits = self.memory.search(vectors, self.top_k)
        t2 = time.perf_counter()
        retrieved = [[Candidate(edit, sim) for edit, sim in row] for row in hits]
        scored = [rank(row, threshold, q) for q, row in zip(queries, self._scored(queries, retrieved, threshold))]
        t3 = time.perf_counter()
        decisions = [
            RoutingDecision(q, cands, first_in_scope(cands, threshold), threshold) for q, cands in zip(queries, scored)
        ]
        n = max(len(queries), 1)
        return decisions, Timings(
            embed_ms=(t1 - t0) * 1e3 / n, retrieve_ms=(t2 - t1) * 1e3 / n, score_ms=(t3 - t2) * 1e3 / n
        )

    def _scored(self, queries: Sequence[str], retrieved: list[list[Candidate]], threshold: float):
        """The candidates with their scores; those the cut-off rules out keep score 0.0 unscored."""
        asked = [self.skip.scored(row, threshold) if self.skip else row for row in retrieved]
        scores = self.classifier.score(queries, asked) if any(asked) else [[] for _ in queries]
        out = []
        for row, asked_row, row_scores in zip(retrieved, asked, scores):
            by_id = {c.edit.id: s for c, s in zip(asked_row, row_scores)}
            out.append([replace(c, score=by_id.get(c.edit.id, 0.0)) for c in row])
        return out
