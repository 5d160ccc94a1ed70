"""Prompt forms (core.forms) and restating benchmark records across forms (core.training.forms_bank)."""

from __future__ import annotations

import json
import random

import pytest

from core.datasets import EditCase
from core.forms import prompt_form
from core.training.forms_bank import FORMS_FILE, FormBank, restate_case, restate_cases
from core.types import EditDraft


@pytest.mark.parametrize(
    "text, form",
    [
        ("What is the capital of France?", "question"),
        ("who founded Acme Robotics", "question"),
        ("Name the CEO of Northwind Traders.", "instruction"),
        ("Tell me the support e-mail address:", "instruction"),
        ("The capital of France is", "completion"),
        ("Toko Yasuda, the", "completion"),
        ("What is the twin city of Buenos Aires? It is", "completion"),
        ("What Acme makes is", "completion"),
    ],
)
def test_prompt_form(text, form):
    assert prompt_form(text) == form


@pytest.fixture(scope="module")
def bank():
    return FormBank.load()


def test_the_shipped_form_bank_is_well_formed():
    data = json.loads(FORMS_FILE.read_text())
    assert len(data["counterfact"]) >= 150 and len(data["zsre"]) >= 20
    for entries in data.values():
        for template, entry in entries.items():
            assert template.count("{}") == 1
            for key, forms in entry.items():
                if key != "relation":
                    assert forms and all(
                        f.count("{}") == 1 and prompt_form(f.replace("{}", "Acme")) == key for f in forms
                    ), (template, key, forms)


CASE = EditCase(
    EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux"),
    paraphrases=("Where Danielle Darrieux is from, people speak the language of",),
    unrelated=("The mother tongue of Léon Blum is",),
    old_target="French",
    unrelated_answers=("French",),
)


def test_restating_adds_other_forms_of_the_same_fact(bank):
    out = restate_case(CASE, bank, random.Random(0), swap=0.0)
    assert out.edit == CASE.edit and out.old_target == "French"
    added = [p for p in out.paraphrases if p not in CASE.paraphrases]
    assert {prompt_form(p) for p in added} == {"question", "instruction"}
    assert all("Danielle Darrieux" in p for p in added)
    extra = out.unrelated[1:]
    assert len(extra) == 1 and "Léon Blum" in extra[0] and prompt_form(extra[0]) != "completion"
    assert out.unrelated_answers == ("French", "French")  # a restated near miss keeps its answer


def test_swapping_states_the_edit_in_another_form_and_keeps_the_original_as_paraphrase(bank):
    out = restate_case(CASE, bank, random.Random(0), swap=1.0)
    assert prompt_form(out.edit.prompt) != "completion" and out.edit.target == "English"
    assert CASE.edit.prompt in out.paraphrases and out.edit.prompt not in out.paraphrases


def test_unknown_templates_are_left_alone_and_restating_is_deterministic(bank):
    odd = EditCase(EditDraft("Zorblax quuxes the", "flim", "Zorblax"))
    assert restate_case(odd, bank, random.Random(0), 1.0) == odd
    assert restate_cases([CASE] * 3, bank, 7, 0.5) == restate_cases([CASE] * 3, bank, 7, 0.5)


def test_the_relation_pool_restates_in_other_templates_of_the_same_relation_only(bank):
    own = bank.restatements("Danielle Darrieux was born in", "Danielle Darrieux")
    pool = bank.restatements("Danielle Darrieux was born in", "Danielle Darrieux", "relation")
    assert set(own) < set(pool) and "Danielle Darrieux was born in" not in pool
    assert "Danielle Darrieux is native to" in pool  # another CounterFact template of place of birth
    assert "What was Danielle Darrieux's city of birth?" in pool  # zsRE's template of the same relation
    assert not any("die" in p or "language" in p for p in pool)  # never another relation
    out = restate_case(CASE, bank, random.Random(0), 0.0, "relation")
    added = [p for p in out.paraphrases if p not in CASE.paraphrases]
    assert {prompt_form(p) for p in added} == {"question", "instruction", "completion"}
