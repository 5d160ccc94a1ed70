"""Negatives that ask another relation of an edit's own subject (core.training.relation_negatives)."""

from __future__ import annotations

import pytest

from core.datasets import EditCase
from core.training.forms_bank import FORMS_FILE
from core.training.relation_negatives import RelationForms, family_of, other_relation_queries
from core.types import EditDraft


@pytest.fixture(scope="module")
def forms():
    return RelationForms(FORMS_FILE)


def test_a_template_is_known_in_every_form(forms):
    assert forms.identify("The mother tongue of Danielle Darrieux is", "Danielle Darrieux") == family_of(
        "native language"
    )
    assert forms.identify("What is the mother tongue of Danielle Darrieux?", "Danielle Darrieux") == family_of(
        "native language"
    )
    assert forms.identify("Zorblax quuxes the", "Zorblax") is None


def test_names_of_one_relation_share_a_family():
    assert family_of("native language") == family_of("language spoken") == family_of("official language")
    assert family_of("place of birth") != family_of("place of death")


def test_queries_name_the_subject_and_never_ask_its_own_relation(forms):
    case = EditCase(EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux"))
    found = other_relation_queries([case] * 5, forms, per_edit=8, seed=1)
    assert len(found) == 40 and {j for j, _ in found} == set(range(5))
    own = forms.identify(case.edit.prompt, "Danielle Darrieux")
    for _, query in found:
        assert "Danielle Darrieux" in query
        assert forms.identify(query, "Danielle Darrieux") != own, query
    assert found == other_relation_queries([case] * 5, forms, per_edit=8, seed=1)
