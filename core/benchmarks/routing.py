"""Routing overhead: what deciding base vs counterfactual costs next to the base model's own answer.

For each query, alone and in turn: route it (embed the query, search the memory, score the top-k
with the scope classifier), then have the base model answer it. Both are timed in the same loop so
they share the machine's conditions; one untimed warm-up of each comes first. The ratio is
route p50 / base-answer p50: SERAC's per-query cost over an unedited model. Beside the wall-clock times, the
process CPU time of each routing (`cpu`: what it costs when nothing else wants the CPU; on a shared machine
the wall time also holds the waits for a core) and the candidates the scope classifier scored (`pairs`:
fast routing's cut-offs leave some unscored).

With a `reference` router (the same memory behind the torch path, fast routing off), each query is also
routed through it in the same loop, so the two paths' figures and their ratio come from one run on one
machine state; decisions that differ between them are counted (0 expected).

Invariant: nothing is added to or removed from the memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.evaluation.metrics import percentile
from core.progress import NoProgress, ProgressFactory
from core.router import Router
from core.serac import SeracEditor

TARGETS = {"route_p50_ms": 15.0, "ratio_p50": 0.02}  # issue 15, at 10,000 edits
STEPS = ("embed", "search", "score")
EXTRA = ("cpu", "pairs")


def measure_routing(
    editor: SeracEditor, queries: Sequence[str], progress: ProgressFactory = NoProgress, reference: Router | None = None
) -> dict:
    """{"n_queries", "n_edits", "index", "route": {p50_ms, p95_ms}, "steps_p50_ms", "base_answer", "ratio_p50",
    "targets", ...}; with `reference`, also "reference": the same figures of that router, and "differing"."""
    routers = {"route": editor.router, **({"reference": reference} if reference else {})}
    if queries:
        for router in routers.values():
            router.route(queries[:1], editor.threshold)
        editor.base.answer(list(queries[:1]))
    times = {name: {"total": [], **{s: [] for s in STEPS + EXTRA}} for name in routers}
    base_ms, chosen = [], {name: [] for name in routers}
    bar = progress(total=len(queries), desc="routing vs base answer")
    for query in queries:
        for name, router in routers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            decisions, timing = router.route([query], editor.threshold)
            times[name]["total"].append((time.perf_counter() - t0) * 1e3)
            times[name]["cpu"].append((time.process_time() - c0) * 1e3)
            times[name]["pairs"].append(pairs_scored(router, decisions[0], editor.threshold))
            for step, ms in zip(STEPS, (timing.embed_ms, timing.retrieve_ms, timing.score_ms)):
                times[name][step].append(ms)
            chosen[name].append(decisions[0].chosen.edit.id if decisions[0].chosen else None)
        t1 = time.perf_counter()
        editor.base.answer([query])
        base_ms.append((time.perf_counter() - t1) * 1e3)
        bar.update(1)
    bar.close()
    base_p50 = percentile(base_ms, 50)
    out = {
        "n_queries": len(queries),
        "n_edits": len(editor.memory),
        "index": getattr(editor.memory, "index_kind", "unknown"),
        **_figures(times["route"], base_p50),
        "base_answer": {"p50_ms": base_p50, "p95_ms": percentile(base_ms, 95)},
        "routed_to_counterfactual": sum(c is not None for c in chosen["route"]),
        "targets": TARGETS,
    }
    if reference:
        out["reference"] = _figures(times["reference"], base_p50)
        out["differing"] = sum(a != b for a, b in zip(chosen["route"], chosen["reference"]))
    return out


def pairs_scored(router: Router, decision, threshold: float) -> int:
    """How many of the decision's candidates the scope classifier scored (the rest the cut-offs skipped)."""
    skip = getattr(router, "skip", None)
    return len(skip.scored(decision.candidates, threshold) if skip else decision.candidates)


def _figures(times: dict[str, list[float]], base_p50: float | None) -> dict:
    route_p50 = percentile(times["total"], 50)
    pairs = times["pairs"]
    return {
        "route": {"p50_ms": route_p50, "p95_ms": percentile(times["total"], 95)},
        "cpu_p50_ms": percentile(times["cpu"], 50),
        "pairs_scored_mean": sum(pairs) / len(pairs) if pairs else None,
        "steps_p50_ms": {step: percentile(times[step], 50) for step in STEPS},
        "ratio_p50": route_p50 / base_p50 if route_p50 is not None and base_p50 else None,
    }
