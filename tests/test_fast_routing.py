"""Fast routing makes the decisions the reference path makes (issue 15's equivalence test; not timed).

On a fixed set (the curator dev set's 48 edits and the first 40 CounterFact val records, each file in its
own memory, every edit prompt, paraphrase and near miss asked), the shipped scope part routes through
the fast path (ONNX Runtime copies of MiniLM and the cross-encoder fed by core.token_arrays, candidates the similarity
cut-offs rule out left unscored: below skip_similarity, or more than skip_gap below the most similar one)
and through the torch reference path (config fast_routing=False).

Tolerance on a scored candidate's score: 1e-4. Both paths compute the same float32 network (ONNX Runtime
vs torch kernels), measured at most 1e-6 apart on 400 CounterFact pairs; 1e-4 leaves room for other
CPUs' kernels and stays far below the 0.001 the UI shows. A candidate the cut-off skipped shows 0.0; the
test checks that its reference score is below the threshold floor the cut-off promises.
"""

from __future__ import annotations

import json

import pytest

from core.config import SeracConfig
from core.datasets import read_edit_file
from core.embedder import SentenceEmbedder
from core.loading import build_classifier, similarity_cutoff
from core.memory import FaissEditMemory
from core.packaged import resolve_model_path
from core.router import ScopeRouter
from core.types import Edit
from tests.conftest import DATA, MODEL_CACHE, ROOT

pytestmark = pytest.mark.models
MODELS = ROOT / "models"
FIXED_SET = [(ROOT / "datasets" / "curator_dev.jsonl", "jsonl", None), (DATA / "counterfact" / "val.json", None, 40)]
SCORE_TOLERANCE = 1e-4


def _config(fast: bool) -> SeracConfig:
    meta = json.loads((MODELS / "scope" / "serac.json").read_text())
    return SeracConfig(
        device="cpu",
        cache_dir=MODEL_CACHE,
        scope_scorer="cross-encoder",
        scope_checkpoint=str(MODELS / "scope"),
        threshold=meta["threshold"],
        fast_routing=fast,
    )


def _router(config: SeracConfig, cases) -> ScopeRouter:
    path = resolve_model_path(config.embedder, config.cache_dir)
    embedder = SentenceEmbedder(path, "cpu", 32, config.fast_routing, config.cache_dir)
    memory = FaissEditMemory(embedder.dim)
    edits = [Edit(i + 1, c.edit.prompt, c.edit.target) for i, c in enumerate(cases)]
    memory.add(edits, embedder.encode([e.prompt for e in edits]))
    return ScopeRouter(embedder, memory, build_classifier(config, "cpu"), config.top_k, similarity_cutoff(config))


# the curator dev set (about 50 s on the 2-core box) runs with -m slow; the CounterFact slice in the default run
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(FIXED_SET[0], id="curator_dev", marks=pytest.mark.slow),
        pytest.param(FIXED_SET[1], id="counterfact_val_40"),
    ],
)
def both_paths(request):
    path, fmt, limit = request.param
    cases = [c for _, c in read_edit_file(path, fmt or "auto", limit).cases]
    probes = [q for c in cases for q in (c.edit.prompt, *c.paraphrases, *c.unrelated)]
    fast, slow = _config(True), _config(False)
    return probes, _router(fast, cases), _router(slow, cases), fast


def test_fast_path_is_really_on(both_paths):
    _, fast, slow, config = both_paths
    assert fast.classifier.onnx is not None and fast.embedder.onnx is not None and fast.skip is not None
    assert fast.classifier.tokens is not None and fast.embedder.onnx.tokens is not None  # core.token_arrays
    assert slow.classifier.onnx is None and slow.embedder.onnx is None and slow.skip is None
    assert config.fast_routing and not _config(False).fast_routing


def test_same_decisions_and_scores_at_the_serving_threshold(both_paths):
    probes, fast, slow, config = both_paths
    fast_d, _ = fast.route(probes, config.threshold)
    slow_d, _ = slow.route(probes, config.threshold)
    chosen = [(d.chosen.edit.id if d.chosen else None) for d in slow_d]
    assert [(d.chosen.edit.id if d.chosen else None) for d in fast_d] == chosen
    assert 0 < sum(c is not None for c in chosen) < len(chosen)  # some probes routed, some left to the base model
    skipped = by_gap = 0
    for f, s in zip(fast_d, slow_d):
        reference = {c.edit.id: c for c in s.candidates}
        assert set(reference) == {c.edit.id for c in f.candidates}  # the same retrieval
        scored = {c.edit.id for c in fast.skip.scored(f.candidates, config.threshold)}
        for c in f.candidates:
            ref = reference[c.edit.id]
            assert c.similarity == pytest.approx(ref.similarity, abs=1e-5)
            if c.edit.id not in scored:  # left unscored: shown as 0.0, truly below the floor
                skipped += 1
                by_gap += c.similarity >= fast.skip.similarity  # above the absolute cut-off: the gap skipped it
                assert c.score == 0.0 and ref.score < fast.skip.min_threshold
            else:
                assert c.score == pytest.approx(ref.score, abs=SCORE_TOLERANCE)
    assert by_gap > 0  # the relative cut-off saved cross-encoder work here, beyond the absolute one
    assert skipped > len(probes)  # on average more than one candidate per probe went unscored


def test_below_the_floor_every_candidate_is_scored(both_paths):
    probes, fast, slow, _ = both_paths
    fast_d, _ = fast.route(probes[:30], 0.0)  # the threshold sweep routes at 0.0
    slow_d, _ = slow.route(probes[:30], 0.0)
    for f, s in zip(fast_d, slow_d):
        assert [c.edit.id for c in f.candidates] == [c.edit.id for c in s.candidates]
        assert [c.score for c in f.candidates] == pytest.approx([c.score for c in s.candidates], abs=SCORE_TOLERANCE)
