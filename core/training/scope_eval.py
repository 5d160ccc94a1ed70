"""Measuring a scope classifier the way the router uses it, and picking its threshold.

All records' edits are in memory at once; every probe retrieves its top-k edits by embedding
cosine, the classifier scores them, and the best-scoring candidate decides (core.router.choose).
- in-scope recall: share of paraphrases whose own edit is chosen (best and >= threshold);
- reliability recall: the same for the edit prompts themselves;
- out-of-scope rejection: share of unrelated prompts whose best score is < threshold; an unrelated
  prompt that asks the very fact another loaded edit rewrites (core.evaluation.facts) is a "collision": it is
  in that edit's scope, so it is left out of the rejection and counted apart;
- pair metrics over every retrieved (edit, probe) pair (label: the probe is a paraphrase or the
  prompt of that very edit, or asks the fact it rewrites): precision, recall at the threshold and ROC AUC.

Invariant: measuring never trains; the same classifier and records give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.datasets import EditCase
from core.embedder import Embedder
from core.rates import rounded_share
from core.router import choose
from core.scope import ScopeClassifier
from core.training.records import as_edits
from core.training.scope_data import nearest_edits, record_queries
from core.types import Candidate


@dataclass
class ScoredProbes:
    """Per probe: its kind, whether its own edit was retrieved, the chosen-candidate logic inputs."""

    kinds: list[str]  # 'prompt' | 'paraphrase' | 'unrelated' | 'collision'
    best_score: np.ndarray  # (n,) highest score among the candidates
    best_is_own: np.ndarray  # (n,) bool: the best candidate is the probe's own edit
    pair_scores: np.ndarray  # (n_pairs,)
    pair_labels: np.ndarray  # (n_pairs,) 1 = in scope


def candidate_sets(embedder: Embedder, cases: list[EditCase], top_k: int):
    """All records' edits in one memory and their probes: (edits, probe queries, edit vectors, query vectors, each
    query's top_k nearest edits by cosine), as the router would retrieve them."""
    edits = as_edits(cases)
    queries = record_queries(cases)
    edit_vecs = embedder.encode([e.prompt for e in edits])
    query_vecs = embedder.encode([q.text for q in queries])
    return edits, queries, edit_vecs, query_vecs, nearest_edits(query_vecs, edit_vecs, top_k)


def score_probes(
    classifier: ScopeClassifier, embedder: Embedder, cases: list[EditCase], top_k: int, batch: int = 256
) -> ScoredProbes:
    edits, queries, edit_vecs, query_vecs, near = candidate_sets(embedder, cases, top_k)
    kinds, best, own, scores, labels = [], [], [], [], []
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        cands = [
            [Candidate(edits[j], float(query_vecs[start + n] @ edit_vecs[j])) for j in near[start + n]]
            for n in range(len(chunk))
        ]
        rows = classifier.score([q.text for q in chunk], cands)
        for q, row_cands, row in zip(chunk, cands, rows):
            scored = [Candidate(c.edit, c.similarity, s) for c, s in zip(row_cands, row)]
            top = choose(scored, 0.0)
            kinds.append(probe_kind(q, cases))
            best.append(top.score)
            own.append(top.edit.id == q.owner + 1)
            scores += row
            labels += [
                float((q.in_scope and c.edit.id == q.owner + 1) or c.edit.id - 1 in q.rewriters) for c in row_cands
            ]
    return ScoredProbes(kinds, np.array(best), np.array(own), np.array(scores), np.array(labels))


def probe_kind(q, cases: list[EditCase]) -> str:
    if not q.in_scope:
        return "collision" if q.rewriters else "unrelated"
    return "prompt" if q.text == cases[q.owner].edit.prompt else "paraphrase"


def routing_metrics(p: ScoredProbes, threshold: float) -> dict:
    kinds = np.array(p.kinds)
    routed_own = p.best_is_own & (p.best_score >= threshold)
    pred = p.pair_scores >= threshold
    tp = float((pred & (p.pair_labels == 1)).sum())
    return {
        "threshold": round(float(threshold), 4),
        "in_scope_recall": rounded_share(routed_own[kinds == "paraphrase"]),
        "reliability_recall": rounded_share(routed_own[kinds == "prompt"]),
        "out_of_scope_rejection": rounded_share(p.best_score[kinds == "unrelated"] < threshold),
        "pair_precision": round(tp / max(float(pred.sum()), 1.0), 4),
        "pair_recall": round(tp / max(float((p.pair_labels == 1).sum()), 1.0), 4),
        "pair_auc": round(roc_auc(p.pair_scores, p.pair_labels), 4),
        "n_probes": len(p.kinds),
        "n_collisions": int((kinds == "collision").sum()),
    }


def pick_threshold(p: ScoredProbes, min_rejection: float) -> float:
    """The threshold with the best in-scope recall whose rejection reaches `min_rejection`; when none
    does, the one with the best recall + rejection. Candidates: 0.5 and a grid of score quantiles."""
    grid = np.unique(
        np.concatenate([[0.5], np.linspace(0.02, 0.98, 49), np.quantile(p.best_score, np.linspace(0, 1, 201))])
    )
    rows = [(t, routing_metrics(p, t)) for t in grid if 0.0 < t < 1.0]
    ok = [
        (_n(m["in_scope_recall"]) + _n(m["reliability_recall"]), -abs(t - 0.5), t)
        for t, m in rows
        if _n(m["out_of_scope_rejection"]) >= min_rejection
    ]
    if ok:
        return float(max(ok)[2])
    return float(
        max((_n(m["in_scope_recall"]) + _n(m["out_of_scope_rejection"]), -abs(t - 0.5), t) for t, m in rows)[2]
    )


def _n(rate: float | None) -> float:
    """A rate of no probes counts as 0 when comparing thresholds."""
    return 0.0 if rate is None else rate


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); 0.5 when a class is missing."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return 0.5
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    ranks[order] = _average_ranks(allv)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(sorted_values: np.ndarray) -> np.ndarray:
    ranks = np.arange(1, len(sorted_values) + 1, dtype=float)
    _, start, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    for s, c in zip(start, counts):
        if c > 1:
            ranks[s : s + c] = ranks[s : s + c].mean()
    return ranks
