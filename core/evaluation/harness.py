"""The evaluation harness: load N edits at once into a fresh memory, probe the whole system, score it.

For every record: its edit prompt and paraphrases (in scope) and its unrelated prompts (out of scope)
go through `SeracEditor.ask`, in chunks, with a progress bar. Only answers the metrics need are
generated: in-scope probes ask without the base answer (the base model answers them only when the
router sends them there); unrelated probes ask with it (locality compares the two).

Invariants:
- the memory is emptied first and then holds exactly the evaluated edits (plus filler edits when a
  larger memory is asked for); the edit log and the database are never touched;
- the edit of record i has id `first_id + i`, so "routed to its own edit" is an id comparison;
- the report holds the contract keys (`REPORT_KEYS`) and only adds others beside them; one of them,
  `locality_collisions`, splits out the unrelated prompts that ask the very fact another loaded edit
  rewrites (core.evaluation.facts): the contract's locality counts them, though routing them to that edit is right;
  it also lists the changed unrelated prompts with the edit each was routed to;
- an interrupt (Ctrl-C) stops between chunks; what was answered so far is kept and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from core.datasets import EditCase
from core.evaluation.facts import FactIndex, unrelated_with_answers
from core.evaluation.metrics import drawdown, edit_success, locality, mean, percentile, routing_quality
from core.progress import NoProgress, ProgressFactory
from core.serac import SeracEditor
from core.text import same_answer
from core.types import Edit

REPORT_KEYS = ("n_edits", "reliability", "generalization", "locality", "drawdown", "routing", "latency_ms", "config")
IN_SCOPE = ("edit", "paraphrase")
LATENCY_SAMPLE = 100  # queries routed one at a time for the routing-latency percentiles


@dataclass(frozen=True)
class Probe:
    case: int  # index of the record in the evaluated cases
    kind: str  # "edit", "paraphrase" or "unrelated"
    query: str


@dataclass(frozen=True)
class ProbeResult:
    """What the system did with one probe (a row of the resumable checkpoint)."""

    index: int
    route: str
    chosen_edit_id: int | None
    nearest_edit_id: int | None  # highest-similarity candidate (what "always retrieve" would use)
    answer: str
    base_answer: str | None
    route_ms: float
    answer_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def case_edits(cases: Sequence[EditCase], first_id: int = 1) -> list[Edit]:
    """The records' edits with consecutive ids starting at `first_id`."""
    return [Edit(first_id + i, c.edit.prompt, c.edit.target, c.edit.subject, c.edit.notes) for i, c in enumerate(cases)]


def build_probes(cases: Sequence[EditCase]) -> list[Probe]:
    """Every record's edit prompt, paraphrases and unrelated prompts, record by record."""
    probes = []
    for i, case in enumerate(cases):
        probes.append(Probe(i, "edit", case.edit.prompt))
        probes += [Probe(i, "paraphrase", q) for q in case.paraphrases]
        probes += [Probe(i, "unrelated", q) for q in case.unrelated]
    return probes


def load_memory(
    editor: SeracEditor,
    cases: Sequence[EditCase],
    filler: Sequence[EditCase] = (),
    progress: ProgressFactory = NoProgress,
    chunk: int = 1024,
) -> list[Edit]:
    """Empty the memory, then add the records' edits (ids 1..N) and the filler edits after them."""
    editor.memory.clear()
    edits = case_edits(list(cases) + list(filler))
    bar = progress(total=len(edits), desc="loading edits")
    for start in range(0, len(edits), chunk):
        editor.add_edits(edits[start : start + chunk])
        bar.update(len(edits[start : start + chunk]))
    bar.close()
    return edits


def answer_probes(
    editor: SeracEditor,
    probes: Sequence[Probe],
    done: dict[int, ProbeResult] | None = None,
    chunk_size: int = 96,
    on_chunk: Callable[[list[ProbeResult]], None] | None = None,
    progress: ProgressFactory = NoProgress,
) -> tuple[dict[int, ProbeResult], bool]:
    """Ask the system every probe not already in `done`; returns all results and whether interrupted."""
    results = dict(done or {})
    todo = [i for i in range(len(probes)) if i not in results]
    bar = progress(total=len(probes), desc="probing", initial=len(results))
    interrupted = False
    try:
        for start in range(0, len(todo), chunk_size):
            new = _answer_chunk(editor, probes, todo[start : start + chunk_size])
            results.update((r.index, r) for r in new)
            if on_chunk:
                on_chunk(new)
            bar.update(len(new))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    return results, interrupted


def _answer_chunk(editor: SeracEditor, probes: Sequence[Probe], indices: list[int]) -> list[ProbeResult]:
    out = []
    for with_base in (False, True):  # in-scope probes need no base answer; unrelated ones do
        group = [i for i in indices if (probes[i].kind == "unrelated") == with_base]
        if not group:
            continue
        for i, record in zip(group, editor.ask([probes[i].query for i in group], with_base=with_base)):
            nearest = max(record.decision.candidates, key=lambda c: (c.similarity, -c.edit.id), default=None)
            t = record.timings
            out.append(
                ProbeResult(
                    i,
                    record.route,
                    record.chosen_edit.id if record.chosen_edit else None,
                    nearest.edit.id if nearest else None,
                    record.edited_answer,
                    record.base_answer,
                    t.route_ms,
                    t.counterfactual_ms if record.route == "counterfactual" else t.base_ms,
                )
            )
    return sorted(out, key=lambda r: r.index)


def route_latencies(editor: SeracEditor, queries: Sequence[str], sample: int = LATENCY_SAMPLE) -> list[float]:
    """Milliseconds to route each of up to `sample` queries alone (embed, search, score): a user's wait."""
    step = max(1, len(queries) // sample) if queries else 1
    out = []
    for query in list(queries)[::step][:sample]:
        t0 = time.perf_counter()
        editor.route([query])
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def summarize(
    cases: Sequence[EditCase],
    probes: Sequence[Probe],
    results: dict[int, ProbeResult],
    first_id: int = 1,
    loaded: Sequence[EditCase] | None = None,
) -> dict:
    """The contract metrics over the probes answered so far (`loaded`: every case whose edit is in
    memory, ids first_id.., when there are filler edits beyond `cases`)."""
    rows = {
        kind: [(probes[i], r) for i, r in sorted(results.items()) if probes[i].kind == kind]
        for kind in ("edit", "paraphrase", "unrelated")
    }
    target = {k: [cases[p.case].edit.target for p, _ in rows[k]] for k in IN_SCOPE}
    loc = locality([r.answer for _, r in rows["unrelated"]], [r.base_answer for _, r in rows["unrelated"]])
    in_scope = rows["edit"] + rows["paraphrase"]
    return {
        "reliability": edit_success([r.answer for _, r in rows["edit"]], target["edit"]),
        "generalization": edit_success([r.answer for _, r in rows["paraphrase"]], target["paraphrase"]),
        "locality": loc,
        "drawdown": drawdown(loc),
        "routing": routing_quality(
            [r.chosen_edit_id == first_id + p.case for p, r in in_scope],
            [r.route == "counterfactual" for _, r in rows["unrelated"]],
        ),
        "counts": {k: len(v) for k, v in rows.items()},
        "changed_unrelated_routed": sum(not same_answer(r.answer, r.base_answer) for _, r in rows["unrelated"]),
        "locality_collisions": collision_split(cases, rows["unrelated"], first_id, loaded),
    }


def collision_split(
    cases: Sequence[EditCase],
    unrelated: Sequence[tuple[Probe, ProbeResult]],
    first_id: int = 1,
    loaded: Sequence[EditCase] | None = None,
    max_listed: int = 100,
) -> dict:
    """Unrelated prompts asking the fact another loaded edit rewrites, locality without them, and the
    changed unrelated prompts (up to `max_listed`) with the edit each was routed to."""
    loaded = list(cases if loaded is None else loaded)
    facts = FactIndex(loaded)
    clean, colliding, changed = [], [], []
    for probe, result in unrelated:
        answer = dict(unrelated_with_answers(cases[probe.case])).get(probe.query)
        rewriters = facts.rewriters(probe.query, answer) - {probe.case}
        (colliding if rewriters else clean).append((result, {first_id + j for j in rewriters}))
        if not same_answer(result.answer, result.base_answer) and len(changed) < max_listed:
            chosen = result.chosen_edit_id
            routed = loaded[chosen - first_id].edit.prompt if chosen is not None else None
            changed.append({"query": probe.query, "routed_to": routed, "collision": bool(rewriters)})
    return {
        "n": len(colliding),
        "routed_to_rewriter": sum(r.chosen_edit_id in ids for r, ids in colliding),
        "locality_without": locality([r.answer for r, _ in clean], [r.base_answer for r, _ in clean]),
        "changed": changed,
    }


def latency_summary(results: dict[int, ProbeResult], single_route_ms: Sequence[float]) -> dict:
    """route_p50/p95: one query routed alone; answer_p50: per-query share of a batched generation."""
    answered = [r.answer_ms for r in results.values() if r.answer_ms > 0]
    by_route = {
        k: [r.answer_ms for r in results.values() if r.route == k and r.answer_ms > 0]
        for k in ("base", "counterfactual")
    }
    route_p50 = percentile(single_route_ms, 50)
    answer_p50 = percentile(answered, 50)
    return {
        "route_p50": route_p50,
        "route_p95": percentile(single_route_ms, 95),
        "answer_p50": answer_p50,
        "answer_base_p50": percentile(by_route["base"], 50),
        "answer_counterfactual_p50": percentile(by_route["counterfactual"], 50),
        "route_batched_mean": mean([r.route_ms for r in results.values()]),
        "routing_overhead_ratio": (route_p50 / answer_p50) if route_p50 and answer_p50 else None,
        "n_route_samples": len(single_route_ms),
    }
