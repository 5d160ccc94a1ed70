"""bench's routing phase (core.benchmarks.routing) on tiny real parts: both paths timed in one loop, the same
decisions counted, and the pairs each path sent to the scope classifier (timings themselves never asserted)."""

from __future__ import annotations

from core.benchmarks.routing import TARGETS, measure_routing
from core.router import ScopeRouter, SimilarityCutoff
from core.types import Edit
from tests.tiny_models import tiny_editor

EDITS = [
    Edit(1, "alpha beta gamma delta", "A"),
    Edit(2, "alpha beta gamma omega", "B"),  # cosine 0.75 to the first query
    Edit(3, "alpha omega sigma tau", "C"),  # cosine 0.25 to the first query
]


def test_routing_phase_counts_pairs_scored_and_differing_decisions(tmp_path):
    editor = tiny_editor(tmp_path / "lm", threshold=0.5)
    editor.memory.add(EDITS, editor.embedder.encode([e.prompt for e in EDITS]))
    reference = ScopeRouter(editor.embedder, editor.memory, editor.router.classifier, 5)  # scores every candidate
    editor.router.skip = SimilarityCutoff(0.2, 0.01, gap=0.3)
    queries = ["alpha beta gamma delta", "alpha omega sigma tau"]
    result = measure_routing(editor, queries, reference=reference)
    assert result["n_queries"] == 2 and result["n_edits"] == 3 and result["targets"] == TARGETS
    assert result["differing"] == 0 and result["routed_to_counterfactual"] == 2
    # query 1: edits 1 and 2 scored (3 lies 0.75 below); query 2: edit 3 alone (1 and 2 lie 0.5 and 0.75 below)
    assert result["pairs_scored_mean"] == 1.5 and result["reference"]["pairs_scored_mean"] == 3.0
    for figures in (result, result["reference"]):
        assert figures["cpu_p50_ms"] is not None and set(figures["steps_p50_ms"]) == {"embed", "search", "score"}
