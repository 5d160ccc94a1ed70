"""The scope classifier g(edit, x) -> [0, 1]: is query x inside the edit's scope?

The default scores a retrieved candidate from its embedding similarity through a logistic
calibration, score = sigmoid(scale * (cosine - center)). The default scale (12.25) and center (0.669)
were fitted by `scripts/calibrate_embedding.py` (core.training.calibration) on 3,000 CounterFact train
records: paraphrases vs their own edit as positives, each near-miss locality prompt vs its nearest
edit as negatives; balanced in-scope recall 0.84 and out-of-scope rejection 0.85 at score 0.5.
A trained cross-encoder (another module) implements the same Protocol.

Invariant: scores are in [0, 1], one per candidate, in the candidates' order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from core.types import Candidate


class ScopeClassifier(Protocol):
    name: str

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Candidate]]) -> list[list[float]]:
        """For each query, one in-scope probability per candidate edit."""
        ...


class EmbeddingScopeClassifier:
    """Calibrated cosine similarity between the query and the edit prompt embeddings."""

    name = "embedding"

    def __init__(self, scale: float, center: float):
        self.scale, self.center = scale, center

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Candidate]]) -> list[list[float]]:
        return [[self.probability(c.similarity) for c in row] for row in candidates]

    def probability(self, similarity: float) -> float:
        z = self.scale * (similarity - self.center)
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))
