"""Scope pairs from hand-written relation wordings over made-up subjects (datasets/relation_wordings.json).

The benchmarks' records ask a few dozen relations in fixed templates; curators ask about companies,
products and people (a CEO, a price, a version, a support address) in their own words. Each
synthetic edit puts one made-up subject into one wording of one relation ("Who is the CEO of Wrenfield
Robotics?") and gets
- positives: the same subject in other wordings of the same relation, across forms ("The chief
  executive officer of Wrenfield Robotics is", "Tell me who is CEO at Wrenfield Robotics.");
- negatives, another relation of the same subject ("Where is Wrenfield Robotics headquartered?");
- negatives, a sibling subject (a name sharing a word with it) in the same relation ("Who is the CEO
  of Wrenfield Marine?").
So the classifier sees the same relation worded differently as in scope and the same wording about
another relation or a near-identical name as out of scope.

A file may extend another ("extends": a file beside it): its relations, subjects and negative kinds are
added to the other's (datasets/relation_wordings_wikidata.json adds encyclopaedic relations).

Invariant: deterministic for a seed; subjects are invented, never taken from a dev split; a relation
asked of a subject uses only relations of the subject's kind (or the kinds `negative_kinds` adds).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from core.training.scope_data import ScopePair

WORDINGS_FILE = Path(__file__).resolve().parents[2] / "datasets" / "relation_wordings.json"


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str
    wordings: tuple[str, ...]  # each with one "{}"


class Wordings:
    """Relations with their wordings, and made-up subjects by kind."""

    def __init__(self, path: str | Path = WORDINGS_FILE):
        data = wordings_data(Path(path))
        self.relations = [Relation(n, r["kind"], tuple(r["wordings"])) for n, r in data["relations"].items()]
        self.subjects = {
            kind: [f"{a} {b}" for a in s["first"] for b in s["second"]] or list(s["first"])
            for kind, s in data["subjects"].items()
        }
        self.extra_kinds = data.get("negative_kinds", {})

    def others(self, relation: Relation) -> list[Relation]:
        """Relations that can be asked of a subject of `relation`'s kind, other than `relation`."""
        kinds = {relation.kind, *self.extra_kinds.get(relation.kind, ())}
        return [r for r in self.relations if r.kind in kinds and r is not relation]

    def siblings(self, kind: str, subject: str) -> list[str]:
        """Other subjects of the kind that share a word with `subject` (a near-identical name)."""
        words = set(subject.split())
        return [s for s in self.subjects[kind] if s != subject and words & set(s.split())]


def wordings_data(path: Path) -> dict:
    """A wordings file's relations, subjects and negative kinds, on top of those of the file it `extends`
    (a name beside it): one definition of each relation, however many files build on it."""
    data = json.loads(path.read_text())
    if "extends" not in data:
        return data
    base = wordings_data(path.parent / data["extends"])
    kinds = dict(base.get("negative_kinds", {}))
    for kind, more in data.get("negative_kinds", {}).items():
        kinds[kind] = [*kinds.get(kind, ()), *more]
    return {
        "relations": {**base["relations"], **data.get("relations", {})},
        "subjects": {**base["subjects"], **data.get("subjects", {})},
        "negative_kinds": kinds,
    }


def synthetic_pairs(
    n_edits: int, seed: int, path: str | Path = WORDINGS_FILE, positives: int = 3, negatives: int = 3, siblings: int = 2
) -> list[ScopePair]:
    """Pairs of `n_edits` synthetic edits (see the module doc), without repeats."""
    bank, rng = Wordings(path), random.Random(seed)
    pairs: dict[tuple[str, str], float] = {}
    for _ in range(n_edits):
        relation = rng.choice(bank.relations)
        subject = rng.choice(bank.subjects[relation.kind])
        edit, *rest = rng.sample(relation.wordings, len(relation.wordings))
        edit = edit.replace("{}", subject)
        found = [(w.replace("{}", subject), 1.0) for w in rest[:positives]]
        others = bank.others(relation)
        for other in rng.sample(others, min(negatives, len(others))):
            found.append((rng.choice(other.wordings).replace("{}", subject), 0.0))
        near = bank.siblings(relation.kind, subject)
        for sibling in rng.sample(near, min(siblings, len(near))):
            found.append((rng.choice(relation.wordings).replace("{}", sibling), 0.0))
        for query, label in found:
            pairs.setdefault((edit, query), label)
    return [ScopePair(edit, query, label) for (edit, query), label in pairs.items()]
