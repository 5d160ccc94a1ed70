"""Sentence embeddings for the retrieval side of the scope classifier.

Invariant: `encode` returns float32 rows of unit length, shape (len(texts), dim), so inner
product equals cosine similarity in the faiss index.

Fast path (`fast=True`, CPU only): a sentence-transformers model made of a transformer, mean pooling
and normalisation (MiniLM's layout) runs its transformer through ONNX Runtime (core.onnx_runtime),
exported once from the loaded weights; pooling and normalisation are the same arithmetic in numpy.
Measured against the torch path: the same vectors within 1e-6 per coordinate. Any other layout, or
CUDA, keeps the torch path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ModelLoadError
from core.token_arrays import TokenArrays

FEW_TEXTS = 8  # batches up to here (a query) run on the small session (core.onnx_runtime) and core.token_arrays


class Embedder(Protocol):
    dim: int
    identity: str  # names the embedding function: equal identities embed every text alike (db.edit_vectors)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


class SentenceEmbedder:
    """A sentence-transformers model (MiniLM by default) on one device."""

    def __init__(
        self,
        path: str,
        device: str,
        batch_size: int,
        fast: bool = False,
        cache_dir: Path = Path(".cache/models"),
        name: str | None = None,
    ):
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load embedder '{path}': {str(exc).splitlines()[0]}") from exc
        self.path, self.batch_size = path, batch_size
        self.dim = int(self.model.get_embedding_dimension())
        self.identity = weights_identity(name or Path(path).name, self.model)
        self.onnx = OnnxMeanPooled.of(self.model, cache_dir) if fast and device == "cpu" else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.onnx is not None:
            step = max(self.batch_size, 32)
            return np.concatenate([self.onnx.encode(texts[i : i + step]) for i in range(0, len(texts), step)])
        vectors = self.model.encode(
            list(texts),
            batch_size=max(self.batch_size, 32),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def weights_identity(name: str, model) -> str:
    """'NAME@sha256-prefix' over the model's parameters and buffers (names, shapes, dtypes, bytes): the same weights
    give the same identity wherever they were loaded from; the ONNX copy computes the same function (see above)."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        h.update(f"{key}|{tuple(data.shape)}|{data.dtype}|".encode())
        h.update(data.view(-1).view(torch.uint8).numpy().tobytes())
    return f"{name}@{h.hexdigest()[:16]}"


class OnnxMeanPooled:
    """transformer (ONNX Runtime) -> mean over real tokens -> unit length: a MiniLM sentence embedding."""

    NAMES = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, transformer, cache_dir: Path):
        from core.onnx_runtime import OnnxEncoder

        self.tokenizer, self.max_length = transformer.tokenizer, int(transformer.max_seq_length)
        names = [n for n in self.NAMES if n in self.tokenizer.model_input_names]
        self.run = OnnxEncoder.of(transformer.auto_model, names, "last_hidden_state", cache_dir, "embedder", FEW_TEXTS)
        self.tokens = TokenArrays.of(self.tokenizer, names, self.max_length)  # None: the tokenizer's own call

    @classmethod
    def of(cls, model, cache_dir: Path) -> OnnxMeanPooled | None:
        """The fast copy of a [Transformer, mean Pooling, Normalize] model, or None for any other layout."""
        from core.onnx_runtime import available

        modules = list(model)
        kinds = [type(m).__name__ for m in modules]
        if not available() or kinds != ["Transformer", "Pooling", "Normalize"]:
            return None
        if modules[1].get_config_dict().get("pooling_mode") != "mean" or not hasattr(modules[0], "auto_model"):
            return None
        return cls(modules[0], cache_dir)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.tokens is not None and len(texts) <= FEW_TEXTS:  # a query: no batch hand-off (core.token_arrays)
            enc = self.tokens.encode(texts)
        else:
            enc = self.tokenizer(
                list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
        hidden = self.run(enc)  # (n, tokens, dim)
        mask = np.asarray(enc["attention_mask"], dtype=np.float32)[:, :, None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)
