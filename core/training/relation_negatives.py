"""Scope negatives that ask another relation of an edit's own subject, in every prompt form.

Measured on the hand-written curator set (datasets/curator_dev.jsonl) with a classifier trained on
form-restated records and the coarse subject negatives (core.training.subject_negatives, 6 relation
groups, completions only): 57 of 70 near misses that name the edit's subject but ask another
attribute were routed to the edit ("In what year was NASA established?" against "What does the
acronym NASA stand for?"), against 4 of 48 that ask the same attribute of another subject. Curators'
near misses are mostly of the first kind, and mostly between relations the coarse groups join
(headquarters vs founding place, birthplace vs place of death, CEO vs founder).

Here relations are finer: each benchmark template's relation as named in datasets/forms.json, with
the few names that denote one benchmark relation joined into a family (FAMILIES). For each edit
whose template is known, `per_edit` queries put its subject into a template of another family, in a
random form (completion, question or instruction): edit "The mother tongue of Danielle Darrieux is",
query "In which city did Danielle Darrieux die?".

Invariant: deterministic for a seed; a query never uses a template of the edit's own family, so it
never asks the edit's fact (the caller still drops pairs that are also positives).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from core.datasets import EditCase
from core.errors import InvalidInput
from core.training.forms_bank import TemplateIndex

# Relation names (datasets/forms.json) that one benchmark relation goes by; joined, so that no query
# asks an edit's relation under another name.
# Joined generously where the forms' wording overlaps ("Where is {} originally from?" is written for a
# birthplace, yet asks an organisation's founding place too): a negative too few costs little, a
# paraphrase labelled out of scope teaches the wrong thing.
FAMILIES = (
    {"language spoken", "native language", "language of work", "original language", "official language"},
    {"location", "country", "continent", "located in", "headquarters location", "located on celestial body"},
    {"place of birth", "location of formation", "citizenship", "country of origin", "place of origin", "ethnic group"},
    {"genre", "instrument", "sport", "position played", "member of sports team", "league"},
    {"manufacturer/developer", "developer", "manufacturer", "creator", "publisher", "distributor"},
    {"position held", "occupation", "field of work"},
)


def family_of(relation: str) -> str:
    for family in FAMILIES:
        if relation in family:
            return min(family)
    return relation


class RelationForms:
    """Every benchmark template in each of its forms, with its relation family."""

    def __init__(self, forms_file: str | Path, sources: Sequence[str] = ("counterfact", "zsre")):
        data = json.loads(Path(forms_file).read_text())
        unknown = sorted(set(sources) - set(data))
        if unknown:
            raise InvalidInput(f"{forms_file}: no section {', '.join(unknown)} (it has {', '.join(sorted(data))})")
        self.family: dict[str, str] = {}  # a form (with "{}") -> family
        self.forms_of: dict[str, list[str]] = defaultdict(list)  # family -> all its forms
        for entries in (data[s] for s in sources):
            for template, entry in entries.items():
                family = family_of(entry["relation"])
                forms = [template] + [f for k, v in entry.items() if k != "relation" for f in v]
                for form in forms:
                    self.family[form] = family
                    self.forms_of[family].append(form)
        self._index = TemplateIndex(self.family)

    def identify(self, prompt: str, subject: str | None) -> str | None:
        """The family of the prompt's template (any form), or None when no known template fits."""
        found = self._index.find(prompt, subject)
        return self.family[found[0]] if found else None


def other_relation_queries(
    cases: Sequence[EditCase], forms: RelationForms, per_edit: int, seed: int
) -> list[tuple[int, str]]:
    """(edit index j, query): j's subject asked with `per_edit` templates of other relation families."""
    rng = random.Random(seed)
    families = sorted(forms.forms_of)
    out = []
    for j, case in enumerate(cases):
        subject = (case.edit.subject or "").strip()
        own = forms.identify(case.edit.prompt, subject) if subject else None
        if own is None:
            continue
        others = [f for f in families if f != own]
        for _ in range(per_edit):
            out.append((j, rng.choice(forms.forms_of[rng.choice(others)]).replace("{}", subject, 1)))
    return out
