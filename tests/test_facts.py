"""Collisions: a record's near miss that asks the very fact another loaded edit rewrites.

Training must label such a pair in scope (never a negative), scope measurement must leave it out of
the rejection, and the evaluation must report locality with and without it."""

from __future__ import annotations

from core.datasets import EditCase, read_edit_file
from core.evaluation.facts import FactIndex, unrelated_with_answers
from core.evaluation.harness import Probe, ProbeResult, collision_split
from core.scope import EmbeddingScopeClassifier
from core.training.scope_data import mine_pairs, record_queries
from core.training.scope_eval import routing_metrics, score_probes
from core.types import EditDraft
from tests.conftest import DATA


def _case(prompt, target, subject, old, paraphrase, unrelated, unrelated_answer) -> EditCase:
    return EditCase(EditDraft(prompt, target, subject), (paraphrase,), (unrelated,), old, (unrelated_answer,))


# i's near miss "The twin city of Riga is" (true answer Dublin) asks j's fact (Riga's twin city Dublin)
CASES = [
    _case(
        "The twin city of Tallinn is",
        "Paris",
        "Tallinn",
        "Helsinki",
        "Tallinn is a twin city of",
        "The twin city of Riga is",
        "Dublin",
    ),
    _case(
        "Riga is a twin city of",
        "Rome",
        "Riga",
        "Dublin",
        "What is the twin city of Riga? It is",
        "The twin city of Vilnius is",
        "Kyiv",
    ),
    _case(
        "The mother tongue of Rigas Feraios is",
        "French",
        "Rigas Feraios",
        "Greek",
        "Rigas Feraios spoke",
        "The mother tongue of Homer is",
        "Greek",
    ),
]


def test_a_fact_matches_on_whole_word_subject_and_the_same_true_answer():
    facts = FactIndex(CASES)
    assert facts.rewriters("The twin city of Riga is", "Dublin") == {1}
    assert facts.rewriters("the twin city of RIGA is", " dublin. ") == {1}  # case, spaces, punctuation
    assert facts.rewriters("The twin city of Riga is", "Bremen") == set()  # another fact of Riga
    assert facts.rewriters("The twin city of Rigaud is", "Dublin") == set()  # not a whole word
    assert facts.rewriters("The twin city of Riga is", None) == set()
    assert facts.rewriters("riga is a twin city of", "Bremen") == {1}  # j's very prompt, whatever the answer
    assert (
        FactIndex([EditCase(EditDraft("p", "t"), (), ("q",), "Dublin", ("Dublin",))]).rewriters("q", "Dublin") == set()
    )


def test_unrelated_collisions_name_the_rewriting_record():
    assert unrelated_collisions(CASES) == [(0, 0, {1})]


def test_training_labels_a_collision_in_scope_and_never_negative(tiny_embedder):
    queries = record_queries(CASES)
    assert [q.rewriters for q in queries if q.text == "The twin city of Riga is"] == [frozenset({1})]
    pairs = mine_pairs(CASES, tiny_embedder, hard_negatives=2)
    labels = {(p.edit_prompt, p.query): p.label for p in pairs}
    assert labels[("Riga is a twin city of", "The twin city of Riga is")] == 1.0
    assert labels[("The twin city of Tallinn is", "The twin city of Riga is")] == 0.0  # still i's near miss
    assert [
        p.label for p in pairs if (p.edit_prompt, p.query) == ("Riga is a twin city of", "The twin city of Riga is")
    ] == [1.0]


def test_scope_measurement_leaves_collisions_out_of_the_rejection(tiny_embedder):
    probes = score_probes(EmbeddingScopeClassifier(10.0, 0.5), tiny_embedder, CASES, top_k=3)
    assert probes.kinds.count("collision") == 1 and probes.kinds.count("unrelated") == 2
    metrics = routing_metrics(probes, 0.5)
    assert metrics["n_collisions"] == 1
    unrelated = probes.best_score[[k == "unrelated" for k in probes.kinds]]
    assert metrics["out_of_scope_rejection"] == round(float((unrelated < 0.5).mean()), 4)


def test_evaluation_reports_locality_with_and_without_collisions():
    rows = [
        (Probe(0, "unrelated", "The twin city of Riga is"), _result(0, 2, "Rome", "Dublin")),
        (Probe(1, "unrelated", "The twin city of Vilnius is"), _result(1, None, "Kyiv", "Kyiv")),
        (Probe(2, "unrelated", "The mother tongue of Homer is"), _result(2, 3, "French", "Greek")),
    ]
    split = collision_split(CASES, rows, first_id=1)
    assert split == {
        "n": 1,
        "routed_to_rewriter": 1,
        "locality_without": 0.5,
        "changed": [
            {"query": "The twin city of Riga is", "routed_to": "Riga is a twin city of", "collision": True},
            {
                "query": "The mother tongue of Homer is",
                "routed_to": "The mother tongue of Rigas Feraios is",
                "collision": False,
            },
        ],
    }


def test_counterfact_val_has_collisions_when_a_thousand_records_are_loaded():
    cases = [c for _, c in read_edit_file(DATA / "counterfact" / "val.json", "counterfact", 1000).cases]
    found = unrelated_collisions(cases)
    assert 0 < len(found) < 50
    i, k, others = found[0]
    j = min(others)
    assert cases[j].edit.subject.lower() in cases[i].unrelated[k].lower()


def unrelated_collisions(cases) -> list[tuple[int, int, set[int]]]:
    """(case i, unrelated prompt k, other cases rewriting its fact) for each colliding unrelated prompt."""
    index = FactIndex(cases)
    return [
        (i, k, others)
        for i, case in enumerate(cases)
        for k, (prompt, answer) in enumerate(unrelated_with_answers(case))
        if (others := index.rewriters(prompt, answer) - {i})
    ]


def _result(index, chosen, answer, base) -> ProbeResult:
    route = "base" if chosen is None else "counterfactual"
    return ProbeResult(index, route, chosen, chosen, answer, base, 1.0, 1.0)
