"""Edit insertion through the real path, one edit at a time, the way a curator adds one.

Each insertion: write the edit and its audit row to the edit log (one transaction), embed its prompt,
add it to the memory; the same order services.services uses (the log is the truth, then the cache).
Reports p50/p95 of the total and of each step in milliseconds.

Invariant: only the given log and memory change; timings are wall-clock per edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from core.evaluation.metrics import percentile
from core.memory import EditMemory
from core.progress import NoProgress, ProgressFactory
from core.types import Edit, EditDraft


class EditLog(Protocol):
    def add_edit(self, draft: EditDraft, actor: str) -> Edit: ...


STEPS = ("log", "embed", "index")


def measure_insertion(
    drafts: Sequence[EditDraft],
    log: EditLog,
    encode: Callable[[Sequence[str]], np.ndarray],
    memory: EditMemory,
    actor: str = "bench",
    progress: ProgressFactory = NoProgress,
) -> dict:
    """{"n", "total": {"p50_ms", "p95_ms"}, "log": {...}, "embed": {...}, "index": {...}}."""
    spent: dict[str, list[float]] = {step: [] for step in (*STEPS, "total")}
    bar = progress(total=len(drafts), desc="insert edits")
    for draft in drafts:
        t0 = time.perf_counter()
        edit = log.add_edit(draft, actor)
        t1 = time.perf_counter()
        vector = encode([edit.prompt])
        t2 = time.perf_counter()
        memory.add([edit], vector)
        t3 = time.perf_counter()
        for step, ms in zip((*STEPS, "total"), (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            spent[step].append(ms * 1e3)
        bar.update(1)
    bar.close()
    return {"n": len(drafts), **{step: summary(values) for step, values in spent.items()}}


def summary(values: Sequence[float]) -> dict:
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95)}
