"""Sentence embeddings for the retrieval side of the scope classifier.

Invariant: `encode` returns float32 rows of unit length, shape (len(texts), dim), so inner
product equals cosine similarity in the faiss index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.errors import ModelLoadError


class Embedder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


class SentenceEmbedder:
    """A sentence-transformers model (MiniLM by default) on one device."""

    def __init__(self, path: str, device: str, batch_size: int):
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load embedder '{path}': {str(exc).splitlines()[0]}") from exc
        self.path, self.batch_size = path, batch_size
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=max(self.batch_size, 32),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
