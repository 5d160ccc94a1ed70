"""Routing measured probe by probe on dev splits (core.training.scope_dev) and the training pairs of the
recipe's options (core.training.train_scope.scope_pairs), on a tiny real embedder and real records."""

from __future__ import annotations

import numpy as np
import pytest

from core.datasets import read_edit_file
from core.scope import EmbeddingScopeClassifier
from core.training.forms_bank import FORMS_FILE
from core.training.records import load_split
from core.training.scope_dev import load_table, probe_table, save_table, table_metrics
from core.training.scope_eval import routing_metrics, score_probes
from core.training.settings import TrainSettings
from core.training.train_scope import scope_pairs
from tests.conftest import DATA, HashingEmbedder


@pytest.fixture(scope="module")
def cases():
    return [c for _, c in read_edit_file(DATA / "counterfact" / "val.json", "auto", 40).cases]


def test_table_metrics_match_the_router_measurement(cases, tmp_path):
    embedder, scorer = HashingEmbedder(), EmbeddingScopeClassifier(12.25, 0.669)
    table = probe_table(scorer, embedder, cases, top_k=5)
    probes = score_probes(scorer, embedder, cases, 5)
    for threshold in (0.05, 0.3, 0.5, 0.9):
        expected = routing_metrics(probes, threshold)
        got = table_metrics(table, table.scores, threshold)
        for key in ("in_scope_recall", "reliability_recall", "out_of_scope_rejection"):
            assert got[key] == expected[key], (threshold, key)
    save_table(table, tmp_path / "t.npz")
    again = load_table(tmp_path / "t.npz")
    assert np.array_equal(again.scores, table.scores) and list(again.kinds) == list(table.kinds)


def test_a_score_that_prefers_the_own_edit_routes_every_probe_in_scope(cases):
    table = probe_table(EmbeddingScopeClassifier(12.25, 0.669), HashingEmbedder(), cases, top_k=5)
    perfect = table.labels.copy()  # 1 for in-scope candidates only
    m = table_metrics(table, perfect, 0.5)
    retrieved = table.own[table.kinds == "paraphrase"].any(axis=1).mean()
    assert m["out_of_scope_rejection"] == 1.0
    assert m["in_scope_recall"] == pytest.approx(retrieved, abs=1e-4)


def test_relation_positives_and_synthetic_edits_add_their_pairs():
    base = dict(
        data=(str(DATA / "counterfact" / "train.json"),),
        limit=60,
        eval_records=10,
        forms=str(FORMS_FILE),
        hard_negatives=1,
        seed=2,
    )
    plain = TrainSettings(**base)
    train, _ = load_split(plain)
    before = scope_pairs(plain, train, HashingEmbedder())
    more = scope_pairs(TrainSettings(**base, relation_positives=3, synthetic_edits=20), train, HashingEmbedder())
    added = more[len(before) :]
    assert more[: len(before)] == before
    positives = [p for p in added if p.label == 1.0 and p.edit_prompt in {c.edit.prompt for c in train}]
    assert positives and all(
        any(c.edit.subject in p.query for c in train if c.edit.prompt == p.edit_prompt) for p in positives
    )
    assert any(p.label == 0.0 for p in added) and any(
        p.edit_prompt not in {c.edit.prompt for c in train} for p in added
    )
    taken = {(p.edit_prompt, p.query) for p in before}
    assert len({(p.edit_prompt, p.query) for p in added} - taken) == len(added)  # no pair twice
