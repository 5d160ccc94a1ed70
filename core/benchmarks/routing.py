"""Routing overhead: what deciding base vs counterfactual costs next to the base model's own answer.

For each query, alone and in turn: route it (embed the query, search the memory, score the top-k
with the scope classifier), then have the base model answer it. Both are timed in the same loop so
they share the machine's conditions; one untimed warm-up of each comes first. The ratio is
route p50 / base-answer p50: SERAC's per-query cost over an unedited model.

Invariant: nothing is added to or removed from the memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.evaluation.metrics import percentile
from core.progress import NoProgress, ProgressFactory
from core.serac import SeracEditor


def measure_routing(editor: SeracEditor, queries: Sequence[str], progress: ProgressFactory = NoProgress) -> dict:
    """{"n_queries", "n_edits", "index", "route": {p50_ms, p95_ms}, "steps_p50_ms", "base_answer", "ratio_p50", ...}."""
    if queries:
        editor.route(queries[:1])
        editor.base.answer(list(queries[:1]))
    route_ms, base_ms, routed = [], [], 0
    steps: dict[str, list[float]] = {"embed": [], "search": [], "score": []}
    bar = progress(total=len(queries), desc="routing vs base answer")
    for query in queries:
        t0 = time.perf_counter()
        decisions, timing = editor.route([query])
        t1 = time.perf_counter()
        editor.base.answer([query])
        t2 = time.perf_counter()
        route_ms.append((t1 - t0) * 1e3)
        base_ms.append((t2 - t1) * 1e3)
        routed += decisions[0].route == "counterfactual"
        for step, ms in zip(steps, (timing.embed_ms, timing.retrieve_ms, timing.score_ms)):
            steps[step].append(ms)
        bar.update(1)
    bar.close()
    route_p50, base_p50 = percentile(route_ms, 50), percentile(base_ms, 50)
    return {
        "n_queries": len(queries),
        "n_edits": len(editor.memory),
        "index": getattr(editor.memory, "index_kind", "unknown"),
        "route": {"p50_ms": route_p50, "p95_ms": percentile(route_ms, 95)},
        "steps_p50_ms": {step: percentile(values, 50) for step, values in steps.items()},
        "base_answer": {"p50_ms": base_p50, "p95_ms": percentile(base_ms, 95)},
        "ratio_p50": route_p50 / base_p50 if route_p50 is not None and base_p50 else None,
        "routed_to_counterfactual": routed,
    }
