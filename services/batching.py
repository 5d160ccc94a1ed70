"""Batched serving: greedy answers asked at about the same time share forward passes.

A request's answer (a core.generation.Generation of the counterfactual or the local base model) joins a queue;
whichever waiting request gets the model slot next takes every queued greedy answer of the same model (up to
MAX_BATCH) and generates them together (core.generation.generate_together), then hands each its text. So
requests collect for WINDOW_S, or for as long as the pass before them runs, and 8 concurrent clients cost far
fewer than 8 passes.

Invariants:
- each answer equals the one it gets alone (greedy; left padding and a shared prompt prefix handled by
  CausalLM.greedy_until); sampled answers (temperature > 0) never come here;
- every pass holds the model slot; a failure of a pass is raised to every request in it, and none is left waiting.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from core.generation import Generation, generate_together

WINDOW_S = 0.01  # how long a request waits for company before it asks for the model slot
MAX_BATCH = 16


@dataclass(eq=False)
class _Job:
    generation: Generation
    done: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    error: BaseException | None = None


class GenerationBatcher:
    """Runs queued greedy generations of one model together, under the model slot."""

    def __init__(self, slot: threading.Lock, window_s: float = WINDOW_S, max_batch: int = MAX_BATCH):
        self.slot, self.window_s, self.max_batch = slot, window_s, max_batch
        self._queue: list[_Job] = []
        self._lock = threading.Lock()
        self.passes = 0  # batched passes run (for tests and benchmarks)

    def run(self, generation: Generation) -> str:
        """The generation's whole answer, generated in a pass with whatever else is queued for its model."""
        job = _Job(generation)
        with self._lock:
            self._queue.append(job)
        time.sleep(self.window_s)
        while not job.done.is_set():
            with self.slot:
                if not job.done.is_set():
                    self._pass(self._take())
        if job.error is not None:
            raise job.error
        return job.text

    def _take(self) -> list[_Job]:
        """The oldest queued job and the next ones on the same model, taken off the queue."""
        with self._lock:
            lm = self._queue[0].generation.lm
            batch = [j for j in self._queue if j.generation.lm is lm][: self.max_batch]
            self._queue = [j for j in self._queue if j not in batch]
        return batch

    def _pass(self, batch: list[_Job]) -> None:
        try:
            texts = generate_together([j.generation for j in batch])
            for job, text in zip(batch, texts):
                job.text = text
        except BaseException as exc:  # every request of the pass answers the failure
            for job in batch:
                job.error = exc
        finally:
            self.passes += 1
            for job in batch:
                job.done.set()
