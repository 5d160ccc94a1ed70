"""The cross-encoder scope classifier: g(edit, x) = sigmoid(f("edit prompt [SEP] x")).

SERAC's sharper scorer: the edit's prompt and the query are read together by one transformer
(MiniLM with a one-logit head, trained by `app.py train-scope`), so it can tell a near miss (the
same relation about another subject) from a paraphrase, which separate embeddings blur. It scores
only the top-k candidates the faiss index retrieved, all pairs of a batch in one forward pass.

Invariant: scores are in [0, 1], one per candidate, in the candidates' order; inference only
(eval mode, no gradients), so the same pair always gets the same score.

Fast path (`fast=True`, CPU only): the same weights run through ONNX Runtime (core.onnx_runtime), exported
once into the cache folder; measured on 400 CounterFact val pairs, scores within 1.5e-5 of torch and
no decision changed. The torch model stays loaded (training and `pair_logits` use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from core.errors import ModelLoadError
from core.token_arrays import TokenArrays
from core.types import Candidate

LAYERS_FILE = "scope.safetensors"  # a shipped part: the trained layers above the packaged embeddings
MAX_LENGTH = 128  # tokens per (edit, query) pair; CounterFact pairs are about 30


def edit_text(candidate: Candidate) -> str:
    """What the scorer reads of an edit: its prompt (scope depends on the input, not the new answer)."""
    return candidate.edit.prompt


def pair_logits(model, tokenizer, edits: Sequence[str], queries: Sequence[str], device: str) -> torch.Tensor:
    """(n,) logits of the pairs (edits[i], queries[i]); gradients flow when the caller allows them."""
    enc = tokenizer(
        list(edits), list(queries), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    ).to(device)
    return model(**enc).logits[:, 0].float()


@contextmanager
def _quiet_head_report():
    """transformers reports the packaged encoder's missing classifier head as freshly initialised; it is
    not: load_layers overwrites it. Keep that report off the user's console."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_layers(model, path: Path) -> None:
    """Overwrite the model's weights with the stored ones; every weight outside the embeddings must be
    stored (the classifier head starts random otherwise), and none may be unknown to the model."""
    stored = {k: v.float() for k, v in load_file(str(path)).items()}
    own = model.state_dict()
    unknown = sorted(set(stored) - set(own))
    missing = sorted(k for k in own if k not in stored and ".embeddings." not in f".{k}")
    if unknown or missing:
        raise ValueError(f"{path.name} does not fit the encoder: unknown {unknown[:3]}, missing {missing[:3]}")
    model.load_state_dict(stored, strict=False)


class CrossEncoderScopeClassifier:
    """A sequence classifier with one logit over (edit prompt, query) pairs."""

    name = "cross-encoder"

    def __init__(self, model, tokenizer, device: str, batch_size: int = 64, fast: bool = False, cache_dir=None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.device, self.batch_size = device, batch_size
        self.onnx = _onnx_copy(model, tokenizer, cache_dir) if fast and device == "cpu" else None
        self.tokens = TokenArrays.of(tokenizer, self.onnx.names, MAX_LENGTH) if self.onnx is not None else None

    @classmethod
    def load(
        cls,
        path: str,
        device: str,
        batch_size: int = 64,
        init_path: str | None = None,
        fast: bool = False,
        cache_dir: Path | None = None,
    ) -> CrossEncoderScopeClassifier:
        """A trained cross-encoder from a checkpoint folder (or any one-logit sequence classifier); with
        `init_path`, the folder holds only the layers above the embeddings (LAYERS_FILE), loaded over the
        packaged encoder at `init_path`. `fast` adds the ONNX Runtime copy (exported into `cache_dir`)."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(init_path or path)
            with _quiet_head_report() if init_path else nullcontext():  # the head comes from LAYERS_FILE next
                model = AutoModelForSequenceClassification.from_pretrained(init_path or path, num_labels=1)
            if init_path:
                load_layers(model, Path(path) / LAYERS_FILE)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load cross-encoder '{path}': {str(exc).splitlines()[0]}") from exc
        return cls(model.to(device), tokenizer, device, batch_size, fast, cache_dir)

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Candidate]]) -> list[list[float]]:
        pairs = [(edit_text(c), q) for q, row in zip(queries, candidates) for c in row]
        flat = self.score_pairs([e for e, _ in pairs], [q for _, q in pairs])
        out, start = [], 0
        for row in candidates:
            out.append(flat[start : start + len(row)])
            start += len(row)
        return out

    @torch.inference_mode()
    def score_pairs(self, edits: Sequence[str], queries: Sequence[str]) -> list[float]:
        """In-scope probabilities of (edit prompt, query) pairs, batched."""
        out: list[float] = []
        for start in range(0, len(edits), self.batch_size):
            if self.onnx is not None:
                out += self._onnx_scores(
                    edits[start : start + self.batch_size], queries[start : start + self.batch_size]
                )
                continue
            logits = pair_logits(
                self.model,
                self.tokenizer,
                edits[start : start + self.batch_size],
                queries[start : start + self.batch_size],
                self.device,
            )
            out += torch.sigmoid(logits).tolist()
        return out

    def _onnx_scores(self, edits: Sequence[str], queries: Sequence[str]) -> list[float]:
        if self.tokens is not None:  # the same arrays, without the tokenizer's batch hand-off (core.token_arrays)
            enc = self.tokens.encode_pairs(edits, queries)
        else:
            enc = self.tokenizer(
                list(edits), list(queries), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="np"
            )
        logits = torch.from_numpy(self.onnx(enc)[:, 0].astype(np.float32))
        return torch.sigmoid(logits).tolist()  # the same sigmoid as the torch path


FEW_PAIRS = 16  # one query's candidates (top_k up to 16) run on the small session (core.onnx_runtime); bigger on all


def _onnx_copy(model, tokenizer, cache_dir):
    """The ONNX Runtime copy of the classifier, or None where onnxruntime is missing."""
    from core.onnx_runtime import OnnxEncoder, available

    if not available():
        return None
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
    return OnnxEncoder.of(model, names, "logits", Path(cache_dir or ".cache/models"), "cross-encoder", FEW_PAIRS)
