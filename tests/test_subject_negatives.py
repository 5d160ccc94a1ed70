"""Subject negatives: queries that name an edit's subject but ask another relation or name a longer
entity; built from the records alone, labelled out of scope, never against a positive."""

from __future__ import annotations

import pytest

from core.datasets import EditCase, read_edit_file
from core.errors import ConfigError
from core.training.scope_data import mine_pairs
from core.training.settings import TrainSettings
from core.training.subject_negatives import (
    contained_subjects,
    longer_name_pairs,
    other_relation_pairs,
    relation_groups,
    template,
)
from core.types import EditDraft
from tests.conftest import DATA


@pytest.fixture(scope="module")
def counterfact():
    return [case for _, case in read_edit_file(DATA / "counterfact" / "train.json").cases]


def _case(prompt: str, subject: str, target: str = "x", old: str = "y") -> EditCase:
    return EditCase(EditDraft(prompt, target, subject), (), (), old)


def test_template_cuts_the_subject_out_once():
    assert template(_case("Sydney is located in", "Sydney")) == "{} is located in"
    assert template(_case("The capital of {X} is", "X")) is None  # braces would break formatting
    assert template(_case("Where is it?", "Sydney")) is None


def test_relation_groups_join_templates_by_shared_answers(counterfact):
    groups = relation_groups(counterfact)
    assert groups["The mother tongue of {} is"] == groups["The native language of {} is"]
    assert groups["{} is located in"] == groups["{} is located in the country of"]
    assert groups["The mother tongue of {} is"] != groups["{} is located in"]
    assert groups["The official religion of {} is"] != groups["{} is located in"]
    assert 3 <= len(set(groups.values())) <= 20


def test_other_relation_queries_name_the_subject_in_another_group(counterfact):
    groups = relation_groups(counterfact)
    pairs = other_relation_pairs(counterfact, 2, seed=0)
    assert pairs == other_relation_pairs(counterfact, 2, seed=0)
    assert len(pairs) > len(counterfact)  # 2 per edit whose template is placed
    for j, query in pairs[:500]:
        subject = counterfact[j].edit.subject.strip()
        query_template = query.replace(subject, "{}", 1)
        assert query_template in groups and groups[query_template] != groups[template(counterfact[j])]


def test_contained_subjects_are_whole_words_of_another_name():
    found = contained_subjects(["Sydney", "Sydney Olympic FC", "Beatles", "The Beatles", "Riga", "Rigas Feraios"])
    assert found == [("Sydney", "Sydney Olympic FC")]


def test_longer_name_pairs_go_both_ways():
    cases = [
        _case("Sydney is located in", "Sydney"),
        _case("Sydney Olympic FC plays in", "Sydney Olympic FC"),
        _case("Oslo is located in", "Oslo"),
    ]
    assert sorted(longer_name_pairs(cases, 2, seed=0)) == [
        (0, "Sydney Olympic FC is located in"),
        (1, "Sydney plays in"),
    ]


def test_mining_adds_them_as_negatives_and_never_against_a_positive(counterfact, tiny_embedder):
    cases = counterfact[:2000]  # enough records per template to place the relations
    plain = mine_pairs(cases, tiny_embedder, hard_negatives=1)
    more = mine_pairs(cases, tiny_embedder, hard_negatives=1, subject_negatives=1)
    added = more[len(plain) :]
    assert more[: len(plain)] == plain and added and all(p.label == 0.0 for p in added)
    labels: dict[tuple[str, str], set[float]] = {}
    for p in more:
        labels.setdefault((p.edit_prompt, p.query), set()).add(p.label)
    assert all(len(v) == 1 for v in labels.values())


@pytest.mark.parametrize("bad", [-1, 51])
def test_a_bad_count_is_refused_before_any_model_loads(bad):
    with pytest.raises(ConfigError, match="subject_negatives"):
        TrainSettings(data=("train.json",), subject_negatives=bad)
