"""Batched serving: greedy whole answers asked at about the same time share one routing pass and one generation
pass per model, instead of one of each per request.

A request (its validated query, the prompt the chosen model answers, greedy settings) joins a queue; whichever
waiting request gets the model slot next takes every queued request (up to MAX_BATCH), routes them in one call
(one embedding batch, one retrieval, one scoring batch), and generates the answers of each local model together
(core.generation.generate_together). So requests collect for WINDOW_S, or for as long as the pass before them
runs. A remote base's answers (core.remote_base) are not generated in the pass: each request sends its own,
after the pass, without the model slot.

Invariants:
- each answer equals the one the request gets alone (greedy; left padding and a shared prompt prefix handled by
  CausalLM.greedy_until), with the same routing decision; sampled answers and streams never come here;
- every pass holds the model slot; a request's own error (a prompt too long for the model) is its own; a failure
  of the whole pass is raised to every request in it; no request is left waiting.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from core.generation import GenerationSettings, Prompt, TextGeneration, generate_together
from core.serac import SeracEditor
from core.types import RoutingDecision
from services.model_slot import ModelSlot

WINDOW_S = 0.01  # how long a request waits for company before it asks for the model slot
MAX_BATCH = 16


@dataclass(eq=False)
class _Job:
    query: str
    prompt: Prompt
    settings: GenerationSettings
    done: threading.Event = field(default_factory=threading.Event)
    decision: RoutingDecision | None = None
    route_ms: float = 0.0
    generation: TextGeneration | None = None
    text: str | None = None
    error: BaseException | None = None


class RequestBatcher:
    """Routes and answers queued greedy requests together, under the model slot."""

    def __init__(self, editor: SeracEditor, slot: ModelSlot, window_s: float = WINDOW_S):
        self.editor, self.slot, self.window_s = editor, slot, window_s
        self._queue: list[_Job] = []
        self._lock = threading.Lock()
        self.passes = 0  # passes run (tests and benchmarks read it)

    def answer(
        self, query: str, prompt: Prompt, settings: GenerationSettings
    ) -> tuple[RoutingDecision, TextGeneration, str, float]:
        """Route `query` and answer `prompt` with the chosen model: (decision, generation, answer, routing ms)."""
        if settings.temperature != 0.0:
            raise ValueError("the request batcher takes greedy requests only")
        job = _Job(query, prompt, settings)
        with self._lock:
            self._queue.append(job)
        time.sleep(self.window_s)
        while not job.done.is_set():
            with self.slot:
                if not job.done.is_set():
                    self._pass(self._take())
        if job.error is not None:
            raise job.error
        if job.text is None:  # a remote base's answer: sent now, without the model slot
            job.generation.open()
            job.text = "".join(job.generation)
        return job.decision, job.generation, job.text, job.route_ms

    def _take(self) -> list[_Job]:
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        return batch

    def _pass(self, batch: list[_Job]) -> None:
        try:
            decisions, timings = self.editor.route([j.query for j in batch])
            for job, decision in zip(batch, decisions):
                job.decision, job.route_ms = decision, timings.route_ms
                try:
                    job.generation = self.editor.generation(decision, job.prompt, job.settings)
                except Exception as exc:  # this request's own error (InvalidParameter: too long)
                    job.error = exc
            self._generate([j for j in batch if j.error is None and getattr(j.generation, "batchable", False)])
        except BaseException as exc:  # every request of the pass answers the failure
            for job in batch:
                job.error = job.error or exc
        finally:
            self.passes += 1
            for job in batch:
                job.done.set()

    @staticmethod
    def _generate(jobs: list[_Job]) -> None:
        """Each local model's answers in one batched pass."""
        models: dict[int, list[_Job]] = {}
        for job in jobs:
            models.setdefault(id(job.generation.lm), []).append(job)
        for group in models.values():
            for job, text in zip(group, generate_together([j.generation for j in group])):
                job.text = text
