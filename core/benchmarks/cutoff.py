"""The evidence for fast routing's similarity cut-off (core.router.SimilarityCutoff), from dev data.

For each dev file: all its edits in one memory (the eval's "at scale" setting), every probe (edit prompt,
paraphrases, unrelated prompts) embedded and searched for its top-k, and every (edit, probe) pair scored
by the cross-encoder. A cut-off is safe when no pair below it scores at or above the routing thresholds
it applies to; it pays off by the share of pairs below it (the cross-encoder work it saves).

Invariant: reads only; scores every pair with the classifier given (the torch path, fast=False).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.datasets import EditCase


@dataclass(frozen=True)
class Pair:
    """One retrieved (edit, probe) pair: its cosine similarity, cross-encoder score and whether in scope."""

    similarity: float
    score: float
    in_scope: bool


def scored_pairs(embedder, classifier, cases: Sequence[EditCase], k: int) -> list[Pair]:
    """The top-k pairs of every probe of `cases`, with all the cases' edits in memory at once."""
    import faiss

    prompts = [c.edit.prompt for c in cases]
    probes = [(p, i, kind) for i, c in enumerate(cases) for p, kind in _probes(c)]
    index = faiss.IndexFlatIP(embedder.dim)
    index.add(embedder.encode(prompts))
    sims, ids = index.search(embedder.encode([p for p, _, _ in probes]), min(k, len(prompts)))
    edits, queries, meta = [], [], []
    for (query, own, kind), row_s, row_i in zip(probes, sims, ids):
        for s, j in zip(row_s, row_i):
            edits.append(prompts[j])
            queries.append(query)
            meta.append((float(s), bool(kind != "unrelated" and j == own)))
    scores = classifier.score_pairs(edits, queries)
    return [Pair(s, float(score), inside) for (s, inside), score in zip(meta, scores)]


def _probes(case: EditCase):
    yield case.edit.prompt, "prompt"
    yield from ((p, "paraphrase") for p in case.paraphrases)
    yield from ((p, "unrelated") for p in case.unrelated)


def summary(pairs: Sequence[Pair], cutoff: float, threshold: float) -> dict:
    """What the dev pairs say of `cutoff` at routing threshold `threshold`."""
    sims = np.array([p.similarity for p in pairs])
    scores = np.array([p.score for p in pairs])
    inside = np.array([p.in_scope for p in pairs])
    below = sims < cutoff
    passing = scores >= threshold
    return {
        "pairs": len(pairs),
        "in_scope_pairs": int(inside.sum()),
        "lowest_similarity_in_scope": float(sims[inside].min()) if inside.any() else None,
        "lowest_similarity_scoring_at_threshold": float(sims[passing].min()) if passing.any() else None,
        "highest_score_below_cutoff": float(scores[below].max()) if below.any() else None,
        "share_below_cutoff": float(below.mean()) if len(pairs) else None,
        "cutoff": cutoff,
        "threshold": threshold,
    }
