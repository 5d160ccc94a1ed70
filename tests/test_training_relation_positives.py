"""Positives that ask an edit's own relation of its own subject in other wordings
(core.training.relation_positives), and the synthetic relation-wording pairs (core.training.synthetic_scope)."""

from __future__ import annotations

import json

import pytest

from core.datasets import EditCase
from core.training.forms_bank import FORMS_FILE
from core.training.relation_positives import RelationWordings, same_relation_queries
from core.training.synthetic_scope import WORDINGS_FILE, Wordings, synthetic_pairs, wordings_data
from core.types import EditDraft
from tests.conftest import DATA

WIKIDATA_FILE = WORDINGS_FILE.with_name("relation_wordings_wikidata.json")

DARRIEUX = EditCase(EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux"))


@pytest.fixture(scope="module")
def wordings():
    return RelationWordings(FORMS_FILE)


def test_other_wordings_keep_the_subject_and_the_relation(wordings):
    found = wordings.others(DARRIEUX.edit.prompt, "Danielle Darrieux")
    assert "What is the mother tongue of Danielle Darrieux?" in found
    assert "Danielle Darrieux is a native speaker of" in found
    assert DARRIEUX.edit.prompt not in found
    assert all("Danielle Darrieux" in q for q in found)
    assert not any("born" in q or "die" in q for q in found)  # other relations never join the pool


def test_an_unknown_wording_or_a_missing_subject_gives_nothing(wordings):
    assert wordings.others("Zorblax quuxes the", "Zorblax") == []
    assert wordings.others(DARRIEUX.edit.prompt, None) == []


def test_records_add_their_own_rewordings_but_not_a_sentence_before_them(tmp_path):
    forms = tmp_path / "forms.json"
    forms.write_text(json.dumps({"zsre": {}}))
    plain = EditCase(
        EditDraft("Which team does Ladislav Zuna play for?", "Sparta", "Ladislav Zuna"),
        paraphrases=("Which team is Ladislav Zuna in?", "He was born in 1950. Ladislav Zuna plays for"),
    )
    bank = RelationWordings(forms, [plain])
    other = EditDraft("Which team does Karel Novak play for?", "Slavia", "Karel Novak")
    assert bank.others(other.prompt, other.subject) == ["Which team is Karel Novak in?"]


def test_queries_are_deterministic_and_bounded(wordings):
    found = same_relation_queries([DARRIEUX] * 3, wordings, per_edit=2, seed=5)
    assert len(found) == 6 and {j for j, _ in found} == {0, 1, 2}
    assert found == same_relation_queries([DARRIEUX] * 3, wordings, per_edit=2, seed=5)
    assert all(q != DARRIEUX.edit.prompt for _, q in found)


@pytest.mark.parametrize("path", [WORDINGS_FILE, WIKIDATA_FILE], ids=["base", "wikidata"])
def test_synthetic_pairs_teach_relation_and_name_apart(path):
    bank = Wordings(path)
    pairs = synthetic_pairs(200, seed=3, path=path)
    assert pairs == synthetic_pairs(200, seed=3, path=path)
    assert len({(p.edit_prompt, p.query) for p in pairs}) == len(pairs)
    by_relation = {r.name: r for r in bank.relations}
    labels = {0.0: 0, 1.0: 0}
    for p in pairs[:300]:
        edit = _parse(bank, p.edit_prompt)
        query = _parse(bank, p.query)
        assert edit and query, p
        same_relation = by_relation[edit[0]] is by_relation[query[0]]
        assert (p.label == 1.0) == (same_relation and edit[1] == query[1]), p
        labels[p.label] += 1
    assert labels[0.0] > 0 and labels[1.0] > 0


def test_an_extending_file_adds_to_the_base_and_keeps_it(tmp_path):
    base, more = wordings_data(WORDINGS_FILE), wordings_data(WIKIDATA_FILE)
    assert set(base["relations"]) < set(more["relations"])
    assert all(more["relations"][name] == r for name, r in base["relations"].items())
    assert set(base["subjects"]) < set(more["subjects"])
    assert more["negative_kinds"]["acronym"] == base["negative_kinds"]["acronym"]
    # a chain of files: each adds its own, negative kinds of one kind are joined
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "relations": {"r1": {"kind": "k", "wordings": ["Who is {}?", "{} is"]}},
                "subjects": {"k": {"first": ["Ann"], "second": []}},
                "negative_kinds": {"k": ["m"]},
            }
        )
    )
    (tmp_path / "b.json").write_text(json.dumps({"extends": "a.json", "negative_kinds": {"k": ["n"]}}))
    (tmp_path / "c.json").write_text(
        json.dumps({"extends": "b.json", "relations": {"r2": {"kind": "k", "wordings": ["Where is {}?", "{} is in"]}}})
    )
    chained = Wordings(tmp_path / "c.json")
    assert [r.name for r in chained.relations] == ["r1", "r2"]
    assert chained.extra_kinds == {"k": ["m", "n"]}


@pytest.mark.parametrize("path", [WORDINGS_FILE, WIKIDATA_FILE], ids=["base", "wikidata"])
def test_synthetic_subjects_are_made_up_never_the_dev_sets(path):
    from core.datasets import read_edit_file
    from core.training.scope_dev import CURATOR_SET

    bank = Wordings(path)
    curator = {json.loads(line).get("subject") for line in CURATOR_SET.read_text().splitlines() if line.strip()}
    zsre_dev = {case.edit.subject for _, case in read_edit_file(f"{DATA}/zsre/dev.json[300:]", "zsre").cases}
    made_up = {s for names in bank.subjects.values() for s in names}
    assert not made_up & (curator | zsre_dev)


def _parse(bank: Wordings, text: str) -> tuple[str, str] | None:
    """(relation, subject) of a synthetic prompt."""
    for relation in bank.relations:
        for wording in relation.wordings:
            head, tail = wording.split("{}")
            if text.startswith(head) and text.endswith(tail) and len(text) > len(head) + len(tail):
                subject = text[len(head) : len(text) - len(tail)]
                if any(subject in names for names in bank.subjects.values()):
                    return relation.name, subject
    return None
