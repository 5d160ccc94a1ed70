"""Scope lookup at one memory size: the exact flat index against the approximate one, through the memory.

Both indexes are measured through FaissEditMemory (forced flat with a huge flat_limit, forced IVF with
flat_limit 0), so the timings include what a routed query pays: the faiss search and the edit lookup.
Per kind: build seconds (add every edit to an empty memory, index training included), single-query
search latency p50/p95 (one query per call, as the router asks), recall@k against the flat results
and the index's serialised bytes; `auto` names the kind core.index_rule picks at this size.

Invariant: the flat memory is the reference (recall 1 by definition); only one memory is alive at a
time besides the vectors, so peak memory stays near one index at 1M edits.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence

import numpy as np

from core import index_rule
from core.evaluation.metrics import percentile
from core.memory import FaissEditMemory
from core.progress import NoProgress, ProgressFactory
from core.types import Edit

FORCE_FLAT = 2**62  # a flat_limit no memory reaches


def measure_lookup(
    vectors: np.ndarray, prompts: Sequence[str], queries: np.ndarray, k: int, progress: ProgressFactory = NoProgress
) -> dict:
    """{"size", "auto", "flat": {...}, "approx": {...}} for a memory holding `vectors` (n, dim)."""
    edits = [
        Edit(id=i + 1, prompt=prompts[i] if i < len(prompts) else f"synthetic edit {i + 1}", target="")
        for i in range(len(vectors))
    ]
    flat, reference = _measure_kind(FORCE_FLAT, edits, vectors, queries, k, None, progress, "flat")
    approx, _ = _measure_kind(0, edits, vectors, queries, k, reference, progress, "approx")
    return {"size": len(vectors), "auto": index_rule.plan_for(len(vectors)).kind, "flat": flat, "approx": approx}


def _measure_kind(
    flat_limit: int,
    edits: list[Edit],
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    reference: list[set[int]] | None,
    progress,
    label: str,
) -> tuple[dict, list[set[int]]]:
    gc.collect()
    memory = FaissEditMemory(vectors.shape[1], flat_limit=flat_limit)
    t0 = time.perf_counter()
    memory.add(edits, vectors)
    build_s = time.perf_counter() - t0
    found = [{e.id for e, _ in row} for row in memory.search(queries, k)]  # batched: all threads
    latencies = single_query_ms(memory, queries, k, progress, f"lookup {label} n={len(edits)}")
    result = {
        "index": memory.index_kind,
        "build_s": build_s,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "recall_at_k": 1.0 if reference is None else recall(found, reference, k),
        "index_bytes": memory.index_bytes(),
    }
    del memory
    return result, found


def single_query_ms(
    memory: FaissEditMemory, queries: np.ndarray, k: int, progress: ProgressFactory = NoProgress, desc: str = ""
) -> list[float]:
    """Milliseconds of memory.search for each query row asked alone."""
    bar = progress(total=len(queries), desc=desc)
    out = []
    for row in queries:
        t0 = time.perf_counter()
        memory.search(row[None, :], k)
        out.append((time.perf_counter() - t0) * 1e3)
        bar.update(1)
    bar.close()
    return out


def recall(found: Sequence[set[int]], reference: Sequence[set[int]], k: int) -> float:
    """Mean share of each reference top-k also found (k capped by the reference's own size)."""
    shares = [len(f & r) / max(min(k, len(r)), 1) for f, r in zip(found, reference)]
    return float(np.mean(shares)) if shares else 1.0
