"""SeracEditor: the whole SERAC system for one process (memory, router, base and counterfactual models).

For each query: route it; when an edit governs it, the counterfactual model answers with that edit,
else the base model answers. The base model's own answer is computed too, when asked, so callers can
show both side by side.

Invariants: the base model's weights never change; adding or removing an edit touches only the
memory; answers come back in query order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from core.base_model import BaseModel
from core.counterfactual import CounterfactualModel
from core.embedder import Embedder
from core.generation import GenerationSettings, Prompt, TextGeneration
from core.memory import EditMemory
from core.router import Router
from core.types import Edit, RoutingDecision, RoutingRecord, Timings


class SeracEditor:
    #: which learned parts are trained (set by core.loading.build_editor; see core.loading.trained_parts)
    trained_parts: dict | None = None

    def __init__(
        self,
        embedder: Embedder,
        memory: EditMemory,
        router: Router,
        base: BaseModel,
        counterfactual: CounterfactualModel,
        threshold: float,
    ):
        self.embedder, self.memory, self.router = embedder, memory, router
        self.base, self.counterfactual = base, counterfactual
        self.threshold = threshold

    def add_edits(self, edits: Sequence[Edit]) -> None:
        """Embed the edits' prompts (batched) and put them in the memory."""
        active = [e for e in edits if e.status == "active"]
        if active:
            self.memory.add(active, self.embedder.encode([e.prompt for e in active]))

    def remove_edits(self, edit_ids: Iterable[int]) -> None:
        self.memory.remove(edit_ids)

    def route(self, queries: Sequence[str], threshold: float | None = None) -> tuple[list[RoutingDecision], Timings]:
        return self.router.route(list(queries), self.threshold if threshold is None else threshold)

    def ask(
        self, queries: Sequence[str], with_base: bool = True, threshold: float | None = None
    ) -> list[RoutingRecord]:
        """Route and answer every query; `with_base` also computes the base answer of routed queries."""
        decisions, timing = self.route(queries, threshold)
        need_base = [i for i, d in enumerate(decisions) if with_base or d.chosen is None]
        routed = [i for i, d in enumerate(decisions) if d.chosen is not None]
        base_answers, base_ms = self._timed(self.base.answer, [decisions[i].query for i in need_base])
        cf_answers, cf_ms = self._timed(
            self.counterfactual.answer, [(decisions[i].chosen.edit, decisions[i].query) for i in routed]
        )
        base_by_index = dict(zip(need_base, base_answers))
        cf_by_index = dict(zip(routed, cf_answers))
        records = []
        for i, decision in enumerate(decisions):
            base_answer = base_by_index.get(i)
            edited = cf_by_index.get(i, base_answer)
            spent = replace(
                timing,
                base_ms=base_ms if i in base_by_index else 0.0,
                counterfactual_ms=cf_ms if i in cf_by_index else 0.0,
            )
            records.append(RoutingRecord(decision, base_answer, edited, spent))
        return records

    def generation(self, decision: RoutingDecision, prompt: Prompt, settings: GenerationSettings) -> TextGeneration:
        """The answer to an application's prompt once routed: the counterfactual model with the chosen edit and the
        routed query, or the base model with the whole prompt (a chat's system message and history included)."""
        if decision.chosen is not None:
            return self.counterfactual.generation(decision.chosen.edit, decision.query, settings)
        return self.base.generation(prompt, settings)

    @staticmethod
    def _timed(fn, items: list) -> tuple[list, float]:
        """fn(items) and the milliseconds it took per item."""
        if not items:
            return [], 0.0
        t0 = time.perf_counter()
        out = fn(items)
        return out, (time.perf_counter() - t0) * 1e3 / len(items)
