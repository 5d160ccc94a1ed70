import pytest

from core.memory import FaissEditMemory
from core.router import ScopeRouter, choose, rank
from core.scope import EmbeddingScopeClassifier
from core.types import Candidate, Edit


def _cand(i, score, sim=0.5):
    return Candidate(Edit(id=i, prompt=f"p{i}", target="t"), similarity=sim, score=score)


def test_choose_applies_threshold_inclusively():
    assert choose([_cand(1, 0.5)], 0.5).edit.id == 1
    assert choose([_cand(1, 0.49)], 0.5) is None
    assert choose([], 0.5) is None


def test_choose_prefers_score_then_similarity_then_older_id():
    assert choose([_cand(1, 0.6), _cand(2, 0.9)], 0.5).edit.id == 2
    assert choose([_cand(1, 0.9, sim=0.7), _cand(2, 0.9, sim=0.8)], 0.5).edit.id == 2
    assert choose([_cand(3, 0.9, sim=0.8), _cand(2, 0.9, sim=0.8)], 0.5).edit.id == 2
    assert [c.edit.id for c in rank([_cand(1, 0.1), _cand(2, 0.9), _cand(3, 0.5)])] == [2, 3, 1]


def test_an_edit_governs_its_own_prompt_when_in_scope():
    """Two edits of one fact kept on purpose score within float noise of each other: the one whose prompt is
    the query answers it, whichever scores a little higher; out of scope, its prompt wins nothing."""
    twin, own = _cand(8, 0.9993, sim=0.97), _cand(7, 0.9991, sim=1.0)
    assert choose([twin, own], 0.5).edit.id == 8  # without the query: the best score
    assert choose([twin, own], 0.5, "  P7! ").edit.id == 7  # case, spaces and edge punctuation ignored
    assert [c.edit.id for c in rank([twin, own], 0.5, "p7")] == [7, 8]
    assert choose([_cand(8, 0.9), _cand(7, 0.3)], 0.5, "p7").edit.id == 8  # its own edit is out of scope
    assert choose([_cand(7, 0.3)], 0.5, "p7") is None
    assert choose([twin, own], 0.5, "p9").edit.id == 8  # another query: the rule does not apply


def test_calibrated_scores_are_monotone_and_bounded():
    clf = EmbeddingScopeClassifier(scale=14.0, center=0.62)
    values = [clf.probability(s) for s in (-1.0, 0.0, 0.62, 0.9, 1.0)]
    assert values == sorted(values) and values[0] >= 0.0 and values[-1] <= 1.0
    assert values[2] == pytest.approx(0.5)


def test_router_routes_related_queries_to_their_edit(tiny_embedder):
    memory = FaissEditMemory(tiny_embedder.dim)
    edits = [
        Edit(1, "The mother tongue of Danielle Darrieux is", "English"),
        Edit(2, "The capital of Veltria is", "Osmund"),
    ]
    memory.add(edits, tiny_embedder.encode([e.prompt for e in edits]))
    router = ScopeRouter(tiny_embedder, memory, EmbeddingScopeClassifier(14.0, 0.62), top_k=2)
    decisions, timings = router.route(["the mother tongue of Danielle Darrieux is", "Bananas are yellow"], 0.5)
    assert decisions[0].route == "counterfactual" and decisions[0].chosen.edit.id == 1
    assert decisions[1].route == "base" and decisions[1].chosen is None
    assert len(decisions[0].candidates) == 2 and decisions[0].candidates[0].score >= decisions[0].candidates[1].score
    assert timings.embed_ms > 0 and timings.retrieve_ms > 0 and timings.score_ms > 0
    assert timings.route_ms == pytest.approx(timings.embed_ms + timings.retrieve_ms + timings.score_ms)
    assert timings.base_ms == timings.counterfactual_ms == 0.0  # routing alone generates nothing
    # a threshold of 1.0 sends everything but exact matches to the base model
    strict, _ = router.route(["mother tongue Darrieux"], 1.0)
    assert strict[0].route == "base"


def test_router_with_empty_memory(tiny_embedder):
    router = ScopeRouter(tiny_embedder, FaissEditMemory(tiny_embedder.dim), EmbeddingScopeClassifier(14.0, 0.62), 5)
    decisions, _ = router.route(["anything"], 0.5)
    assert decisions[0].route == "base" and decisions[0].candidates == ()


def test_calibration_fit_recovers_a_known_logistic():
    import numpy as np

    from core.training.calibration import fit_similarity_calibration

    # Equal-variance Gaussian classes have an exact logistic posterior:
    # slope = (mu1 - mu0) / sigma^2 = 40, center = (mu0 + mu1) / 2 = 0.6 (balanced classes).
    rng = np.random.default_rng(0)
    positives, negatives = rng.normal(0.8, 0.1, 20000), rng.normal(0.4, 0.1, 5000)
    scale, center = fit_similarity_calibration(positives, negatives)
    assert center == pytest.approx(0.6, abs=0.01)
    assert scale == pytest.approx(40, rel=0.1)
    with pytest.raises(ValueError):
        fit_similarity_calibration(np.array([0.1]), np.array([0.9]))
