"""A scope classifier on the dev splits never trained on, probe by probe, and routing by any score.

The dev splits (README, "Data and splits"): the hand-written curator set, zsRE `dev.json[300:]` and
the first 1,000 records of CounterFact `val.json`. `probe_table` routes every probe of a split as
core.training.scope_eval does (all the split's edits in memory, top-k by embedding cosine) and keeps,
per probe and candidate, the classifier's score, the cosine and whether the candidate is in scope
for the probe; `table_metrics` then gives in-scope recall, reliability recall and out-of-scope
rejection for any score of those candidates at a threshold, so a combination of the classifier's
score with the cosine is measured exactly as the classifier alone is (the README's logistic-regression
row was measured this way).

Invariant: measuring never trains; with the classifier's own scores, `table_metrics` gives the
figures of scope_eval.routing_metrics for the same records (the router's tie rule included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.datasets import EditCase, read_edit_file
from core.embedder import Embedder
from core.rates import rounded_share
from core.scope import ScopeClassifier
from core.training.scope_eval import candidate_sets, probe_kind
from core.types import Candidate

CURATOR_SET = Path(__file__).resolve().parents[2] / "datasets" / "curator_dev.jsonl"


def dev_splits(data_dir: str | Path, curator: str | Path = CURATOR_SET) -> dict[str, list[EditCase]]:
    """The three dev splits by name: curator, zsre (dev.json[300:]), counterfact_val (first 1,000)."""
    files = {
        "curator": (str(curator), None),
        "zsre": (f"{data_dir}/zsre/dev.json[300:]", None),
        "counterfact_val": (f"{data_dir}/counterfact/val.json", 1000),
    }
    return {name: [c for _, c in read_edit_file(path, "auto", limit).cases] for name, (path, limit) in files.items()}


@dataclass
class ProbeTable:
    """Per probe (n) and retrieved candidate (k, nearest first)."""

    kinds: np.ndarray  # (n,) 'prompt' | 'paraphrase' | 'unrelated' | 'collision'
    scores: np.ndarray  # (n, k) the classifier's in-scope probability
    cosines: np.ndarray  # (n, k) embedding cosine of probe and edit prompt
    labels: np.ndarray  # (n, k) 1 = the candidate is in scope for the probe (its own edit or a rewriter)
    own: np.ndarray  # (n, k) bool: the candidate is the probe's own edit
    ids: np.ndarray  # (n, k) the candidates' edit ids (the router's last tie-break)


def probe_table(
    classifier: ScopeClassifier, embedder: Embedder, cases: list[EditCase], top_k: int, batch: int = 256
) -> ProbeTable:
    edits, queries, edit_vecs, query_vecs, near = candidate_sets(embedder, cases, top_k)
    cos = np.take_along_axis(query_vecs @ edit_vecs.T, near, axis=1) if len(queries) else np.zeros(near.shape)
    scores = []
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        cands = [
            [Candidate(edits[j], float(cos[start + n, m])) for m, j in enumerate(near[start + n])]
            for n in range(len(chunk))
        ]
        scores += classifier.score([q.text for q in chunk], cands)
    owner = np.array([q.owner for q in queries])[:, None]
    rewrites = np.array([[j in q.rewriters for j in row] for q, row in zip(queries, near)], dtype=bool)
    in_scope = np.array([q.in_scope for q in queries])[:, None]
    return ProbeTable(
        kinds=np.array([probe_kind(q, cases) for q in queries]),
        scores=np.array(scores, dtype=np.float64),
        cosines=cos.astype(np.float64),
        labels=(((near == owner) & in_scope) | rewrites).astype(np.float64),
        own=near == owner,
        ids=near + 1,
    )


def best_candidate(t: ProbeTable, scores: np.ndarray) -> np.ndarray:
    """(n,) column of the candidate the router picks: the highest score, then cosine, then lowest id."""
    order = np.lexsort((t.ids, -t.cosines, -scores), axis=1) if scores.size else np.zeros(scores.shape, int)
    return order[:, 0] if scores.size else np.zeros(0, int)


def table_metrics(t: ProbeTable, scores: np.ndarray, threshold: float) -> dict:
    """In-scope recall, reliability recall and out-of-scope rejection of routing by `scores` (n, k)."""
    col = best_candidate(t, scores)
    rows = np.arange(len(col))
    best, own = scores[rows, col], t.own[rows, col]
    routed_own = own & (best >= threshold)
    return {
        "threshold": round(float(threshold), 4),
        "in_scope_recall": rounded_share(routed_own[t.kinds == "paraphrase"]),
        "reliability_recall": rounded_share(routed_own[t.kinds == "prompt"]),
        "out_of_scope_rejection": rounded_share(best[t.kinds == "unrelated"] < threshold),
    }


def save_table(t: ProbeTable, path: str | Path) -> None:
    np.savez_compressed(path, **{k: getattr(t, k) for k in ProbeTable.__dataclass_fields__})


def load_table(path: str | Path) -> ProbeTable:
    with np.load(path) as f:
        return ProbeTable(**{k: f[k] for k in ProbeTable.__dataclass_fields__})
