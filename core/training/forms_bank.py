"""Restating benchmark records across prompt forms, so the learned parts see questions, instructions
and completions of one fact (core.forms).

CounterFact states every fact as a completion ("The mother tongue of {} is") and zsRE as a question
("What is the product made by {}?"). Trained on those alone, the scope classifier learned the
benchmarks' templates: on hand-written curator edits it found a question against a completion-form
edit of the same fact about half the time. `datasets/forms.json` gives, per benchmark template,
question and instruction forms (CounterFact) or completion and instruction forms (zsRE) written by
hand; `restate_case` adds them to a record:
- paraphrases gain the edit prompt in each other form (in scope: the same subject, the same relation);
- near misses that match a known template gain one restatement (still out of scope);
- with probability `swap`, the edit itself is stated in another form and its original prompt becomes
  a paraphrase, so edits of every form are seen too.
With `pool="relation"`, a restatement may use any form of any template of the same relation (by its
name in forms.json: "place of birth" in CounterFact and in zsRE alike), not only the template's own:
many more wordings of one fact ("Who is the CTO of X?" / "Name the chief technology officer of X."),
as curators write them, against the relation negatives' other relations of the same subject.

Invariant: a restatement keeps the record's subject and relation, so its label (in or out of scope)
and its answer are the original's; deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from core.datasets import EditCase
from core.forms import prompt_form

FORMS_FILE = Path(__file__).resolve().parents[2] / "datasets" / "forms.json"


POOLS = ("template", "relation")


@dataclass(frozen=True)
class Template:
    text: str  # "{} is located in"
    forms: tuple[str, ...]  # the other forms of the template, each with one "{}"
    relation: str = ""  # its relation's name in forms.json


class TemplateIndex:
    """Which of a set of forms ("{} is located in", "Where is {} located?") a prompt is, and its subject:
    the exact form when the prompt contains the given subject, else the longest form whose pattern matches."""

    def __init__(self, forms: Iterable[str]):
        self._forms = dict.fromkeys(forms)  # ordered set
        patterns = [(f, re.compile("^" + re.escape(f).replace(r"\{\}", "(.+?)") + "$")) for f in self._forms]
        self._by_length = sorted(patterns, key=lambda p: -len(p[0]))  # the most specific match first

    def find(self, prompt: str, subject: str | None = None) -> tuple[str, str] | None:
        """(form, subject) of the prompt, or None when no form fits."""
        subject = (subject or "").strip()
        if subject and subject in prompt and prompt.replace(subject, "{}", 1) in self._forms:
            return prompt.replace(subject, "{}", 1), subject
        for form, pattern in self._by_length:
            match = pattern.match(prompt)
            if match:
                return form, match.group(1)
        return None


class FormBank:
    """Benchmark templates with their hand-written forms in the other two prompt forms."""

    def __init__(self, templates: list[Template]):
        self.templates = {t.text: t for t in templates}
        self._index = TemplateIndex(t.text for t in templates)
        self._by_relation: dict[str, list[str]] = {}  # relation -> every template text and form, in order
        for t in templates:
            if t.relation:
                self._by_relation.setdefault(t.relation, []).extend((t.text, *t.forms))

    @classmethod
    def load(cls, path: str | Path = FORMS_FILE) -> FormBank:
        data = json.loads(Path(path).read_text())
        templates = []
        for entries in data.values():
            for text, entry in entries.items():
                forms = tuple(f for key in ("question", "completion", "instruction") for f in entry.get(key, ()))
                templates.append(Template(text, forms, entry.get("relation", "")))
        return cls(templates)

    def restatements(self, prompt: str, subject: str | None = None, pool: str = "template") -> list[str]:
        """The prompt in every other known form of its template (pool "template") or of its relation
        (pool "relation"); empty when its template is unknown."""
        found = self._index.find(prompt, subject)
        if found is None:
            return []
        template, name = found
        forms = self.templates[template].forms
        if pool == "relation" and self.templates[template].relation:
            forms = tuple(
                dict.fromkeys(f for f in self._by_relation[self.templates[template].relation] if f != template)
            )
        return [f.replace("{}", name, 1) for f in forms]


def restate_case(case: EditCase, bank: FormBank, rng: random.Random, swap: float, pool: str = "template") -> EditCase:
    """The record with its prompt and near misses restated in other forms (see the module doc)."""
    own = bank.restatements(case.edit.prompt, case.edit.subject, pool)
    if not own:
        return case
    extra_unrelated, extra_answers = [], []
    answers = case.unrelated_answers if len(case.unrelated_answers) == len(case.unrelated) else ()
    for i, query in enumerate(case.unrelated):
        forms = bank.restatements(query, None, pool)
        if forms:
            extra_unrelated.append(rng.choice(forms))
            extra_answers += [answers[i]] if answers else []
    picked = _one_per_form(own, rng)
    edit, paraphrases = case.edit, [*case.paraphrases, *picked]
    if rng.random() < swap:
        new_prompt = rng.choice(picked)
        paraphrases = [case.edit.prompt if p == new_prompt else p for p in paraphrases]
        edit = replace(case.edit, prompt=new_prompt)
    return replace(
        case,
        edit=edit,
        paraphrases=tuple(paraphrases),
        unrelated=(*case.unrelated, *extra_unrelated),
        unrelated_answers=(*answers, *extra_answers) if answers else case.unrelated_answers,
    )


def _one_per_form(forms: list[str], rng: random.Random) -> list[str]:
    """One restatement of each form present (a question, an instruction, a completion)."""
    by_form: dict[str, list[str]] = {}
    for f in forms:
        by_form.setdefault(prompt_form(f), []).append(f)
    return [rng.choice(v) for _, v in sorted(by_form.items())]


def restate_cases(
    cases: list[EditCase], bank: FormBank, seed: int, swap: float, pool: str = "template"
) -> list[EditCase]:
    """Every case restated with its own generator (seed, index): independent of the list's other cases."""
    return [restate_case(c, bank, random.Random(f"{seed}:{i}"), swap, pool) for i, c in enumerate(cases)]
