"""Scope positives that ask an edit's own relation of its own subject in other wordings.

The relation negatives (core.training.relation_negatives) teach the cross-encoder to reject a query
that names the edit's subject but asks another relation. Alone, they taught it to reject any
same-subject query worded differently from the edit, whatever the relation: zsRE paraphrases such as
"Which team is X in?" against the edit "Which team does X play for?" scored near 0. These positives
give the other side: the edit's subject put into other wordings of the same relation, so the model
must read the relation, not the wording. Wordings of one relation come from
- datasets/forms.json: every template of that relation (by its `relation` name, not the coarser
  negative families) in each of its forms;
- the training records themselves: a record whose prompt and paraphrase both contain its subject
  gives two wordings of one relation ("What is the product made by {}?" and "What will be the product
  of {}?"); they join the relation of the prompt's template when forms.json knows it, else a group of
  their own; a wording after an unrelated sentence (CounterFact's paraphrase prefixes) is left out.
  Only training records are read, never a dev split.

Invariant: deterministic for a seed; a positive keeps the edit's subject and its relation (a wording
of another relation never joins the pool); the caller drops pairs already taken.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from core.datasets import EditCase


class RelationWordings:
    """Wordings ("{}" templates in any prompt form) grouped by relation."""

    def __init__(self, forms_file: str | Path, cases: Sequence[EditCase] = ()):
        self.group: dict[str, str] = {}  # wording -> relation group
        self.pool: dict[str, list[str]] = defaultdict(list)  # relation group -> its wordings, in order
        for entries in json.loads(Path(forms_file).read_text()).values():
            for template, entry in entries.items():
                relation = entry.get("relation") or f"template:{template}"
                forms = [f for key in ("question", "completion", "instruction") for f in entry.get(key, ())]
                for wording in (template, *forms):
                    self._add(wording, relation)
        for case in cases:
            self._harvest(case)

    def _add(self, wording: str, relation: str) -> None:
        if wording.count("{}") == 1 and wording not in self.group:
            self.group[wording] = relation
            self.pool[relation].append(wording)

    def _harvest(self, case: EditCase) -> None:
        """A record's prompt and paraphrases that contain its subject: wordings of one relation."""
        subject = (case.edit.subject or "").strip()
        texts = [case.edit.prompt, *case.paraphrases]
        if not subject or any("{" in t or "}" in t for t in texts):
            return
        wordings = [t.replace(subject, "{}", 1) for t in texts if t.count(subject) == 1]
        wordings = [w for w in wordings if _plain(w)]
        if len(wordings) < 2 or wordings[0] != texts[0].replace(subject, "{}", 1):
            return
        relation = self.group.get(wordings[0], f"template:{wordings[0]}")
        for wording in wordings:
            self._add(wording, relation)

    def others(self, prompt: str, subject: str | None) -> list[str]:
        """The prompt's subject in every other wording of its relation; empty when its wording is unknown."""
        subject = (subject or "").strip()
        if not subject or prompt.count(subject) != 1:
            return []
        own = prompt.replace(subject, "{}", 1)
        relation = self.group.get(own)
        if relation is None:
            return []
        return [w.replace("{}", subject, 1) for w in self.pool[relation] if w != own]


def _plain(wording: str) -> bool:
    """A wording without an unrelated sentence before it (CounterFact's paraphrases often begin with one:
    "Smith, Jack Beale. The headquarter of {} is located in")."""
    return "\n" not in wording and "." not in wording.split("{}")[0]


def same_relation_queries(
    cases: Sequence[EditCase], wordings: RelationWordings, per_edit: int, seed: int
) -> list[tuple[int, str]]:
    """(edit index j, query): j's subject asked with up to `per_edit` other wordings of j's relation."""
    rng = random.Random(seed)
    out = []
    for j, case in enumerate(cases):
        found = wordings.others(case.edit.prompt, case.edit.subject)
        taken = {case.edit.prompt, *case.paraphrases}
        found = [q for q in found if q not in taken]
        out += [(j, q) for q in rng.sample(found, min(per_edit, len(found)))]
    return out
