"""The cross-encoder scope classifier on a tiny real BERT (random weights, MiniLM's tokenizer)."""

from __future__ import annotations

import pytest

from core.config import SeracConfig
from core.cross_encoder import CrossEncoderScopeClassifier
from core.errors import ConfigError, ModelLoadError
from core.types import Candidate, Edit
from tests.tiny_models import tiny_bert_classifier


@pytest.fixture(scope="module")
def tiny_cross_encoder() -> CrossEncoderScopeClassifier:
    model, tokenizer = tiny_bert_classifier(0)
    return CrossEncoderScopeClassifier(model, tokenizer, "cpu", batch_size=3)


def _cands(*prompts: str) -> list[Candidate]:
    return [Candidate(Edit(i + 1, p, "x"), 0.5) for i, p in enumerate(prompts)]


def test_scores_one_probability_per_candidate_in_order(tiny_cross_encoder):
    rows = [_cands("The capital of France is", "Paris is in"), [], _cands("Who wrote Hamlet?")]
    scores = tiny_cross_encoder.score(["The capital of France is", "q", "Hamlet's author is"], rows)
    assert [len(r) for r in scores] == [2, 0, 1]
    assert all(0.0 <= s <= 1.0 for row in scores for s in row)
    alone = tiny_cross_encoder.score(["Hamlet's author is"], [_cands("Who wrote Hamlet?")])
    assert alone[0][0] == pytest.approx(scores[2][0], abs=1e-5)  # batching does not change a pair's score


def test_checkpoint_round_trip_gives_the_same_scores(tiny_cross_encoder, tmp_path):
    tiny_cross_encoder.model.save_pretrained(tmp_path)
    tiny_cross_encoder.tokenizer.save_pretrained(tmp_path)
    loaded = CrossEncoderScopeClassifier.load(str(tmp_path), "cpu")
    edits, queries = ["The capital of France is", "Who wrote Hamlet?"], ["France's capital:", "Hamlet was written by"]
    assert loaded.score_pairs(edits, queries) == pytest.approx(tiny_cross_encoder.score_pairs(edits, queries), abs=1e-6)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load cross-encoder"):
        CrossEncoderScopeClassifier.load(str(tmp_path / "nope"), "cpu")


def test_config_needs_a_checkpoint_for_the_cross_encoder():
    with pytest.raises(ConfigError, match="scope_checkpoint"):
        SeracConfig(scope_scorer="cross-encoder")
    assert SeracConfig(scope_scorer="cross-encoder", scope_checkpoint="checkpoints/scope").scope_checkpoint
