"""The evidence for fast routing's similarity cut-offs (core.router.SimilarityCutoff), from dev data.

For each dev file: all its edits in one memory (the eval's "at scale" setting; optionally filled with more
edits up to a memory size, e.g. 10,000), every probe (edit prompt, paraphrases, unrelated prompts) embedded
and searched for its top-k, and every (edit, probe) pair scored by the cross-encoder. A cut-off is safe when
no pair beyond it scores at or above the routing thresholds it applies to; it pays off by the share of pairs
beyond it (the cross-encoder work it saves). Two cut-offs: an absolute one (cosine below `cutoff`) and a
relative one (cosine more than `gap` below the probe's most similar candidate, which is never skipped).

Invariant: reads only; scores every pair with the classifier given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.datasets import EditCase


@dataclass(frozen=True)
class Pair:
    """One retrieved (edit, probe) pair: its cosine similarity, cross-encoder score, whether in scope, the
    probe it belongs to and how far its cosine lies below that probe's most similar candidate (`gap`)."""

    similarity: float
    score: float
    in_scope: bool
    probe: int = 0
    gap: float = 0.0


def scored_pairs(embedder, classifier, cases: Sequence[EditCase], k: int, fill: Sequence[str] = ()) -> list[Pair]:
    """The top-k pairs of every probe of `cases`, with all the cases' edits (then the `fill` prompts, edits
    that no probe is about) in memory at once."""
    import faiss

    prompts = [c.edit.prompt for c in cases] + list(fill)
    probes = [(p, i, kind) for i, c in enumerate(cases) for p, kind in _probes(c)]
    index = faiss.IndexFlatIP(embedder.dim)
    index.add(embedder.encode(prompts))
    sims, ids = index.search(embedder.encode([p for p, _, _ in probes]), min(k, len(prompts)))
    edits, queries, meta = [], [], []
    for n, ((query, own, kind), row_s, row_i) in enumerate(zip(probes, sims, ids)):
        for s, j in zip(row_s, row_i):
            edits.append(prompts[j])
            queries.append(query)
            meta.append((float(s), bool(kind != "unrelated" and j == own), n, float(row_s[0] - s)))
    scores = classifier.score_pairs(edits, queries)
    return [Pair(s, float(score), inside, n, gap) for (s, inside, n, gap), score in zip(meta, scores)]


def _probes(case: EditCase):
    yield case.edit.prompt, "prompt"
    yield from ((p, "paraphrase") for p in case.paraphrases)
    yield from ((p, "unrelated") for p in case.unrelated)


def summary(pairs: Sequence[Pair], cutoff: float, threshold: float, gap: float | None = None) -> dict:
    """What the dev pairs say of `cutoff` (and `gap`) at routing threshold `threshold`."""
    sims = np.array([p.similarity for p in pairs])
    scores = np.array([p.score for p in pairs])
    inside = np.array([p.in_scope for p in pairs], dtype=bool)
    gaps = np.array([p.gap for p in pairs])
    below = sims < cutoff
    passing = scores >= threshold
    out = {
        "pairs": len(pairs),
        "in_scope_pairs": int(inside.sum()),
        "lowest_similarity_in_scope": float(sims[inside].min()) if inside.any() else None,
        "lowest_similarity_scoring_at_threshold": float(sims[passing].min()) if passing.any() else None,
        "highest_score_below_cutoff": float(scores[below].max()) if below.any() else None,
        "share_below_cutoff": float(below.mean()) if len(pairs) else None,
        "cutoff": cutoff,
        "threshold": threshold,
    }
    return out if gap is None else out | gap_summary(pairs, below | (gaps > gap), threshold) | {"gap": gap}


def gap_summary(pairs: Sequence[Pair], skipped: np.ndarray, threshold: float) -> dict:
    """What the relative cut-off does on the dev pairs, given which pairs the cut-offs skip:
    - largest_gap_of_winner: how far below its probe's most similar candidate the pair chosen by full scoring
      (score at the threshold) ever lay: the margin a gap must keep;
    - probes_with_skipped_pair_at_threshold / smallest_margin_over_skipped: probes where a skipped pair scored
      at the threshold anyway, and by how little the best scored pair outscored it there (a decision changes
      when the margin would be negative);
    - decisions_changed, share_skipped, pairs_scored_per_probe."""
    gaps = np.array([p.gap for p in pairs])
    inside = np.array([p.in_scope for p in pairs], dtype=bool)
    passing = np.array([p.score >= threshold for p in pairs])
    rows: dict[int, list[tuple[Pair, bool]]] = {}
    for pair, skip in zip(pairs, skipped):
        rows.setdefault(pair.probe, []).append((pair, bool(skip)))
    winners = [max(r, key=lambda ps: ps[0].score)[0] for r in rows.values()]  # ties: the first, most similar
    winner_gaps = [w.gap for w in winners if w.score >= threshold]
    margins = []
    for row in rows.values():
        lost = max((p.score for p, skip in row if skip), default=-1.0)
        kept = max((p.score for p, skip in row if not skip), default=0.0)
        if lost >= threshold:
            margins.append(kept - lost)
    return {
        "largest_gap_in_scope": float(gaps[inside].max()) if inside.any() else None,
        "largest_gap_of_winner": max(winner_gaps) if winner_gaps else None,
        "largest_gap_scoring_at_threshold": float(gaps[passing].max()) if passing.any() else None,
        "probes_with_skipped_pair_at_threshold": len(margins),
        "smallest_margin_over_skipped": min(margins) if margins else None,
        "decisions_changed": sum(m < 0 for m in margins),
        "share_skipped": float(skipped.mean()) if len(pairs) else None,
        "pairs_scored_per_probe": float((~skipped).sum() / len(rows)) if rows else None,
    }


def dominance_summary(pairs: Sequence[Pair], skipped: np.ndarray, threshold: float, dominant: float, gap: float):
    """What a dominance rule (measured, not adopted: see core.router) would do on top of the cut-offs (`skipped`):
    when a probe's most similar pair is scored and scores at least `dominant`, its other pairs more than `gap`
    below it go unscored. Decisions (the highest score at the threshold, ties to the more similar) are compared
    with full scoring: decisions_changed (expected 0), closest_dominated: the highest score a pair the rule
    skipped reached over its probe's dominant pair (negative: it never outscored it), pairs_scored_per_probe."""
    rows: dict[int, list[tuple[Pair, bool]]] = {}
    for pair, skip in zip(pairs, skipped):
        rows.setdefault(pair.probe, []).append((pair, bool(skip)))
    changed, scored, over = 0, 0, []
    for row in rows.values():
        top, top_skipped = min(row, key=lambda ps: ps[0].gap)  # the most similar pair (gap 0)
        dominates = not top_skipped and top.score >= dominant
        by_rule = [dominates and p is not top and not skip and p.gap > gap for p, skip in row]
        over += [p.score - top.score for (p, _), ruled in zip(row, by_rule) if ruled]
        kept = [(p, skip or ruled) for (p, skip), ruled in zip(row, by_rule)]
        scored += sum(not skip for _, skip in kept)
        changed += _chosen(kept, threshold) is not _chosen([(p, False) for p, _ in row], threshold)
    return {
        "dominant": dominant,
        "dominant_gap": gap,
        "decisions_changed": changed,
        "pairs_ruled_out": len(over),
        "closest_dominated": max(over) if over else None,
        "pairs_scored_per_probe": scored / len(rows) if rows else None,
    }


def _chosen(row: Sequence[tuple[Pair, bool]], threshold: float) -> Pair | None:
    """The pair routing chooses among the scored ones (unscored pairs count as 0.0), or None."""
    best = None
    for pair, skip in row:
        score = 0.0 if skip else pair.score
        if score >= threshold and (best is None or (score, pair.similarity) > best[0]):
            best = ((score, pair.similarity), pair)
    return None if best is None else best[1]
