"""The ONNX Runtime copies of the routing encoders: exported once per weights, the same outputs as torch."""

from __future__ import annotations

import pytest
import torch

from core.cross_encoder import CrossEncoderScopeClassifier
from core.onnx_runtime import exported, weights_digest
from tests.tiny_models import tiny_bert_classifier

NAMES = ["input_ids", "attention_mask", "token_type_ids"]
EDITS = ["The capital of France is", "Who wrote Hamlet?", "Danielle Darrieux's mother tongue is"]
QUERIES = ["France's capital city is", "Hamlet was written by", "The language of Danielle Darrieux is"]


def test_export_is_cached_by_the_weights(tmp_path):
    model, _ = tiny_bert_classifier(0)
    first = exported(model, NAMES, "logits", tmp_path, "cross-encoder")
    stamp = first.stat().st_mtime_ns
    assert exported(model, NAMES, "logits", tmp_path, "cross-encoder") == first  # reused, not exported again
    assert first.stat().st_mtime_ns == stamp
    other, _ = tiny_bert_classifier(1)
    assert weights_digest(other) != weights_digest(model)
    second = exported(other, NAMES, "logits", tmp_path, "cross-encoder")
    assert second != first and second.exists()
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted([first.name, second.name])  # no temp left


def test_fast_cross_encoder_scores_as_torch_does(tmp_path):
    model, tokenizer = tiny_bert_classifier(2)
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
    model, tokenizer = tiny_bert_classifier(3)
    fast_on_cuda_name = CrossEncoderScopeClassifier(model, tokenizer, "cuda", fast=True, cache_dir=tmp_path)
    assert fast_on_cuda_name.onnx is None  # ONNX Runtime's CPU copy serves the CPU only
    assert not (tmp_path / "onnx").exists()
