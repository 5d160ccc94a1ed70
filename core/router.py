"""The router: retrieve top-k candidate edits, score them, and pick the edit that governs the query.

Rule (SERAC): take the candidate with the highest scope score; if that score is at or above the
threshold, the counterfactual model answers with that edit, otherwise the base model answers.
Ties on score break on higher similarity, then on the lower (older) edit id, so routing is
deterministic.

Invariant: `route` never re-encodes edits: cost per query is one query embedding, one index
search and k scorer calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from core.embedder import Embedder
from core.memory import EditMemory
from core.scope import ScopeClassifier
from core.types import Candidate, RoutingDecision, Timings, unrouted


class Router(Protocol):
    def route(self, queries: Sequence[str], threshold: float) -> tuple[list[RoutingDecision], Timings]: ...


def choose(candidates: Sequence[Candidate], threshold: float) -> Candidate | None:
    """The best-scoring candidate when it reaches the threshold, else None."""
    if not candidates:
        return None
    best = min(candidates, key=lambda c: (-c.score, -c.similarity, c.edit.id))
    return best if best.score >= threshold else None


def rank(candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """Candidates ordered as `choose` prefers them."""
    return tuple(sorted(candidates, key=lambda c: (-c.score, -c.similarity, c.edit.id)))


class ScopeRouter:
    """Embedding retrieval (faiss) narrows the candidates; the scope classifier decides."""

    def __init__(self, embedder: Embedder, memory: EditMemory, classifier: ScopeClassifier, top_k: int):
        self.embedder, self.memory, self.classifier, self.top_k = embedder, memory, classifier, top_k

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
        scores = self.classifier.score(queries, retrieved) if any(retrieved) else [[] for _ in queries]
        scored = [
            rank([replace(c, score=s) for c, s in zip(row, row_scores)]) for row, row_scores in zip(retrieved, scores)
        ]
        t3 = time.perf_counter()
        decisions = [
            RoutingDecision(q, cands, choose(cands, threshold), threshold) for q, cands in zip(queries, scored)
        ]
        n = max(len(queries), 1)
        return decisions, Timings(
            embed_ms=(t1 - t0) * 1e3 / n, retrieve_ms=(t2 - t1) * 1e3 / n, score_ms=(t3 - t2) * 1e3 / n
        )
