"""Baselines scored on the same probes as SERAC, to show what the scope classifier buys.

- no_edit: the base model alone (every answer is the base answer; locality 1 by construction);
- retrieve_always: retrieval-augmented prompting with no scope decision: every query goes to the
  counterfactual model with its nearest edit by embedding similarity;
- lookup_table: an exact-match table from edit prompt (normalised) to target; anything else gets the
  base answer.

Invariant: baselines reuse the SERAC run's answers wherever they are provably the same computation
(same model, same edit, same query) and generate only the rest; the metrics use the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.datasets import EditCase
from core.evaluation.harness import Probe, ProbeResult
from core.evaluation.metrics import drawdown, edit_success, locality, routing_quality
from core.progress import NoProgress, ProgressFactory
from core.serac import SeracEditor
from core.text import normalize_answer
from core.types import Edit


def base_answers(
    editor: SeracEditor,
    probes: Sequence[Probe],
    results: dict[int, ProbeResult],
    progress: ProgressFactory = NoProgress,
    chunk: int = 128,
) -> dict[int, str]:
    """The base model's answer to every answered probe, generating only those the run did not have."""
    out = {i: r.base_answer for i, r in results.items() if r.base_answer is not None}
    missing = sorted(i for i in results if i not in out)
    bar = progress(total=len(missing), desc="baseline: base answers")
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        out.update(zip(part, editor.base.answer([probes[i].query for i in part])))
        bar.update(len(part))
    bar.close()
    return out


def nearest_answers(
    editor: SeracEditor,
    probes: Sequence[Probe],
    results: dict[int, ProbeResult],
    edits: dict[int, Edit],
    progress: ProgressFactory = NoProgress,
    chunk: int = 96,
) -> dict[int, str]:
    """The counterfactual model's answer with the nearest edit, for every answered probe."""
    out = {
        i: r.answer
        for i, r in results.items()
        if r.chosen_edit_id is not None and r.chosen_edit_id == r.nearest_edit_id
    }
    missing = sorted(i for i, r in results.items() if i not in out and r.nearest_edit_id is not None)
    bar = progress(total=len(missing), desc="baseline: retrieve always")
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        pairs = [(edits[results[i].nearest_edit_id], probes[i].query) for i in part]
        out.update(zip(part, editor.counterfactual.answer(pairs)))
        bar.update(len(part))
    bar.close()
    return out


def lookup_answers(
    cases: Sequence[EditCase], probes: Sequence[Probe], base: dict[int, str]
) -> tuple[dict[int, str], set[int]]:
    """Answers of the exact-match table and the probes it matched."""
    table: dict[str, str] = {}
    for case in cases:
        table.setdefault(normalize_answer(case.edit.prompt), case.edit.target)
    answers, matched = {}, set()
    for i, answer in base.items():
        hit = table.get(normalize_answer(probes[i].query))
        answers[i] = hit if hit is not None else answer
        if hit is not None:
            matched.add(i)
    return answers, matched


def score(
    cases: Sequence[EditCase],
    probes: Sequence[Probe],
    answers: dict[int, str],
    base: dict[int, str],
    own_edit: dict[int, bool],
    routed: dict[int, bool],
) -> dict:
    """Reliability, generalization, locality, drawdown and routing of one baseline's answers."""

    def of(kind: str) -> list[int]:
        return [i for i in sorted(answers) if probes[i].kind == kind]

    def success(kind: str) -> float | None:
        return edit_success([answers[i] for i in of(kind)], [cases[probes[i].case].edit.target for i in of(kind)])

    loc = locality([answers[i] for i in of("unrelated")], [base[i] for i in of("unrelated")])
    in_scope = of("edit") + of("paraphrase")
    return {
        "reliability": success("edit"),
        "generalization": success("paraphrase"),
        "locality": loc,
        "drawdown": drawdown(loc),
        "routing": routing_quality([own_edit[i] for i in in_scope], [routed[i] for i in of("unrelated")]),
    }


def run_baselines(
    editor: SeracEditor,
    cases: Sequence[EditCase],
    probes: Sequence[Probe],
    results: dict[int, ProbeResult],
    edits: dict[int, Edit],
    first_id: int = 1,
    progress: ProgressFactory = NoProgress,
) -> dict:
    """The three baselines' metrics on the probes SERAC answered."""
    base = base_answers(editor, probes, results, progress)
    near = nearest_answers(editor, probes, results, edits, progress)
    table, matched = lookup_answers(cases, probes, base)
    never = {i: False for i in base}
    own_near = {i: results[i].nearest_edit_id == first_id + probes[i].case for i in base}
    own_table = {i: i in matched and probes[i].kind != "unrelated" for i in base}
    near_full = {i: near.get(i, base[i]) for i in base}  # no edit at all in memory: the base answers
    return {
        "no_edit": score(cases, probes, base, base, never, never),
        "retrieve_always": score(cases, probes, near_full, base, own_near, {i: i in near for i in base}),
        "lookup_table": score(cases, probes, table, base, own_table, {i: i in matched for i in base}),
    }
