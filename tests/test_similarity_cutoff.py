"""Fast routing's cut-offs (core.router.SimilarityCutoff) and the dev-data evidence for them
(core.benchmarks.cutoff): which candidates go unscored, and the figures that justify a cut-off."""

from __future__ import annotations

import pytest

from core.benchmarks.cutoff import Pair, summary
from core.memory import FaissEditMemory
from core.router import ScopeRouter, SimilarityCutoff
from core.scope import EmbeddingScopeClassifier
from core.types import Candidate, Edit


def _cands(*sims: float) -> list[Candidate]:
    return [Candidate(Edit(i + 1, f"p{i + 1}", "t"), s) for i, s in enumerate(sims)]


def _ids(cands) -> list[int]:
    return [c.edit.id for c in cands]


def test_absolute_cutoff_alone_keeps_every_candidate_above_it():
    cut = SimilarityCutoff(0.2, 0.01)
    assert _ids(cut.scored(_cands(0.9, 0.3, 0.19, 0.2), 0.04)) == [1, 2, 4]


def test_gap_skips_candidates_far_below_the_most_similar_one():
    cut = SimilarityCutoff(0.2, 0.01, gap=0.15)
    assert _ids(cut.scored(_cands(0.9, 0.76, 0.74, 0.5), 0.04)) == [1, 2]  # 0.9 - 0.15 = 0.75
    assert _ids(cut.scored(_cands(0.3, 0.25, 0.1), 0.04)) == [1, 2]  # the absolute cut-off still applies
    assert _ids(cut.scored(_cands(0.1, 0.05), 0.04)) == []  # nothing close enough to the query at all
    assert _ids(cut.scored(_cands(0.74, 0.9), 0.04)) == [2]  # the most similar, wherever it stands
    assert cut.scored([], 0.04) == []


def test_below_the_threshold_floor_every_candidate_is_scored():
    cut = SimilarityCutoff(0.2, 0.01, gap=0.15)
    assert _ids(cut.scored(_cands(0.9, 0.5, 0.1), 0.0)) == [1, 2, 3]
    assert _ids(cut.scored(_cands(0.9, 0.5, 0.1), 0.01)) == [1]


class RecordingScorer(EmbeddingScopeClassifier):
    """The real embedding scorer, recording which candidates each call was asked to score."""

    def __init__(self):
        super().__init__(12.25, 0.669)
        self.asked = []

    def score(self, queries, candidates):
        self.asked.append([_ids(row) for row in candidates])
        return super().score(queries, candidates)


def test_router_shows_skipped_candidates_with_score_zero_and_decides_on_the_rest(tiny_embedder):
    memory = FaissEditMemory(tiny_embedder.dim)
    edits = [
        Edit(1, "alpha beta gamma delta", "A"),
        Edit(2, "alpha beta gamma omega", "B"),  # cosine 0.75 to the query
        Edit(3, "alpha omega sigma tau", "C"),  # cosine 0.25: more than 0.3 below the top
    ]
    memory.add(edits, tiny_embedder.encode([e.prompt for e in edits]))
    scorer = RecordingScorer()
    router = ScopeRouter(tiny_embedder, memory, scorer, 3, SimilarityCutoff(0.2, 0.01, gap=0.3))
    [decision], _ = router.route(["alpha beta gamma delta"], 0.04)
    assert scorer.asked == [[[1, 2]]]  # edit 3 was never sent to the scorer
    assert decision.chosen.edit.id == 1
    shown = {c.edit.id: (round(c.similarity, 3), c.score) for c in decision.candidates}
    assert shown[3] == (0.25, 0.0) and shown[2][1] == pytest.approx(scorer.probability(0.75))
    [full], _ = router.route(["alpha beta gamma delta"], 0.0)  # below the floor: all three scored
    assert scorer.asked[-1] == [[1, 2, 3]] and full.chosen.edit.id == 1


def _pairs(rows):
    """Pairs of probes given as [(similarity, score, in_scope), ...], most similar first."""
    out = []
    for n, row in enumerate(rows):
        out += [Pair(s, score, inside, n, row[0][0] - s) for s, score, inside in row]
    return out


def test_summary_reports_the_margins_and_the_decisions_a_gap_would_change():
    pairs = _pairs(
        [
            [(0.9, 0.95, True), (0.7, 0.002, False), (0.5, 0.0, False)],  # a paraphrase; its edit on top
            [(0.6, 0.001, False), (0.58, 0.03, False), (0.3, 0.2, False)],  # a pair 0.3 below the top wins
            [(0.8, 0.99, True), (0.4, 0.97, False)],  # a far pair scores high, yet below the top's score
        ]
    )
    wide = summary(pairs, 0.2, 0.01, gap=0.35)
    assert wide["decisions_changed"] == 0 and wide["largest_gap_of_winner"] == pytest.approx(0.3)
    assert wide["largest_gap_in_scope"] == pytest.approx(0.0)
    assert wide["probes_with_skipped_pair_at_threshold"] == 1  # the 0.97 pair, 0.4 below its top
    assert wide["smallest_margin_over_skipped"] == pytest.approx(0.02)
    assert wide["pairs_scored_per_probe"] == pytest.approx(6 / 3)  # (0.5, 0.0) and (0.4, 0.97) skipped
    narrow = summary(pairs, 0.2, 0.01, gap=0.1)
    assert narrow["decisions_changed"] == 1 and narrow["probes_with_skipped_pair_at_threshold"] == 2
    assert narrow["smallest_margin_over_skipped"] == pytest.approx(0.03 - 0.2)
    assert narrow["pairs_scored_per_probe"] == pytest.approx(4 / 3)
    assert "gap" not in summary(pairs, 0.2, 0.01)  # without a gap: the absolute cut-off's figures only


def test_dominance_evidence_counts_a_far_pair_that_would_have_won():
    """dominance_summary (the measured case against a dominance rule): a far pair scoring above its probe's most
    similar one changes the decision when skipped; one scoring below it does not."""
    from core.benchmarks.cutoff import dominance_summary

    pairs = [
        Pair(0.90, 0.993, True, probe=0, gap=0.0),
        Pair(0.70, 0.995, False, probe=0, gap=0.2),  # far, but scores higher: full scoring chooses it
        Pair(0.80, 0.999, True, probe=1, gap=0.0),
        Pair(0.60, 0.400, False, probe=1, gap=0.2),  # far and lower: skipping it changes nothing
    ]
    none = [False] * 4
    ruled = dominance_summary(pairs, none, 0.04, dominant=0.99, gap=0.1)
    assert ruled["decisions_changed"] == 1 and ruled["pairs_ruled_out"] == 2
    assert ruled["closest_dominated"] == pytest.approx(0.002)  # the far pair outscored its probe's top by 0.002
    assert ruled["pairs_scored_per_probe"] == 1.0
    wide = dominance_summary(pairs, none, 0.04, dominant=0.99, gap=0.25)  # both far pairs within the gap
    assert wide["decisions_changed"] == 0 and wide["pairs_ruled_out"] == 0 and wide["closest_dominated"] is None
    high = dominance_summary(pairs, none, 0.04, dominant=0.9995, gap=0.1)  # no top scores that high: no rule
    assert high["decisions_changed"] == 0 and high["pairs_scored_per_probe"] == 2.0
