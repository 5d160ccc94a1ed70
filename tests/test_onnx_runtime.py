"""The ONNX Runtime copies of the routing encoders: exported once per weights, the same outputs as torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from core.cross_encoder import CrossEncoderScopeClassifier
from core.onnx_runtime import exported, weights_digest
from core.packaged import MINILM, resolve_model_path

NAMES = ["input_ids", "attention_mask", "token_type_ids"]
EDITS = ["The capital of France is", "Who wrote Hamlet?", "Danielle Darrieux's mother tongue is"]
QUERIES = ["France's capital city is", "Hamlet was written by", "The language of Danielle Darrieux is"]


def _tiny(seed: int) -> tuple[BertForSequenceClassification, object]:
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM, Path(".")))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    return BertForSequenceClassification(config).eval(), tokenizer


def test_export_is_cached_by_the_weights(tmp_path):
    model, _ = _tiny(0)
    first = exported(model, NAMES, "logits", tmp_path, "cross-encoder")
    stamp = first.stat().st_mtime_ns
    assert exported(model, NAMES, "logits", tmp_path, "cross-encoder") == first  # reused, not exported again
    assert first.stat().st_mtime_ns == stamp
    other, _ = _tiny(1)
    assert weights_digest(other) != weights_digest(model)
    second = exported(other, NAMES, "logits", tmp_path, "cross-encoder")
    assert second != first and second.exists()
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted([first.name, second.name])  # no temp left


def test_fast_cross_encoder_scores_as_torch_does(tmp_path):
    model, tokenizer = _tiny(2)
    with torch.no_grad():
        model.classifier.weight.mul_(300.0)  # a random head outputs about 0: spread the scores over (0, 1)
    slow = CrossEncoderScopeClassifier(model, tokenizer, "cpu", batch_size=2)
    fast = CrossEncoderScopeClassifier(model, tokenizer, "cpu", batch_size=2, fast=True, cache_dir=tmp_path)
    assert slow.onnx is None and fast.onnx is not None
    assert not model.training  # exporting leaves the torch model in eval mode (dropout off)
    ref = slow.score_pairs(EDITS, QUERIES)
    assert fast.score_pairs(EDITS, QUERIES) == pytest.approx(ref, abs=2e-6)  # batches of 2 and 1 (bulk session)
    assert fast.score_pairs(EDITS[:1], QUERIES[:1]) == pytest.approx(ref[:1], abs=2e-6)  # one pair: small session
    assert max(ref) - min(ref) > 2e-5  # ten times the tolerance apart: a constant or swapped output fails


def test_fast_path_stays_off_on_cuda_names(tmp_path):
    model, tokenizer = _tiny(3)
    fast_on_cuda_name = CrossEncoderScopeClassifier(model, tokenizer, "cuda", fast=True, cache_dir=tmp_path)
    assert fast_on_cuda_name.onnx is None  # ONNX Runtime's CPU copy serves the CPU only
    assert not (tmp_path / "onnx").exists()
