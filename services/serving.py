"""Serving applications: the one function behind the OpenAI-compatible routes. It routes an application's prompt
(a completion's prompt, or a chat's last user message) and returns the routing decision with the answer: the
counterfactual model with the chosen edit, or the base model with the whole prompt.

Invariants:
- the routed text is validated like any asked prompt (InvalidInput names what is wrong) before any model runs;
- the request path only reads the edit log (`sync`); with `config.log_probes` the routing record is written by
  `log`, which callers run after the response is sent, never while a client waits;
- every request is routed and answered in batched passes with other requests' (services.batching: whole answers and
  streams, greedy and sampled), under `services.model_slot`; a stream's deltas reach its reader as the pass makes
  them, so a slow reader never holds the model slot, and a reader that stops early cancels the rest of its row;
- a remote base's answer (core.remote_base) holds no slot, and its request is sent before `serve` returns, so a base
  that is down is a clear 503 before any text is promised.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from core.generation import GenerationSettings, Prompt, TextGeneration, routed_text
from core.text import clean_field
from core.types import RoutingDecision, RoutingRecord
from services.batching import END
from services.services import Services


@dataclass
class Served:
    """A routed request: its decision now, its answer when read (`text` or `stream`, once)."""

    decision: RoutingDecision
    generation: TextGeneration
    services: Services = field(repr=False)
    answer: str = ""  # what was generated so far
    route_ms: float = 0.0  # the routing's own time (embedding, retrieval, scoring), from core.types.Timings
    done: bool = False  # the answer is already whole (a batched whole answer)
    batch: int = 1  # how many requests shared the pass that answered this one (services.batching)
    deltas: queue.Queue | None = field(default=None, repr=False)  # a local stream's, filled by the batched pass

    def text(self) -> str:
        """The whole answer (a stream's read to its end)."""
        if not self.done:
            for _ in self.stream():
                pass
            self.done = True
        return self.answer

    def stream(self) -> Iterator[str]:
        """The answer's text deltas as the model makes them (a whole answer: in one piece)."""
        if self.done:
            yield self.answer
            return
        if self.deltas is None:  # a remote base's stream: read by a thread of its own, holding no model slot
            self.deltas = queue.Queue()
            threading.Thread(target=self._produce, args=(self.deltas,), daemon=True, name="serac-stream").start()
        try:
            while (item := self.deltas.get()) is not END:
                if isinstance(item, BaseException):
                    raise item
                self.answer += item
                yield item
        finally:
            self.generation.cancel.set()  # the reader stopped: generate no more

    def _produce(self, deltas: queue.Queue) -> None:
        try:
            for delta in self.generation:
                deltas.put(delta)
            deltas.put(END)
        except BaseException as exc:  # handed to the reader, which raises it where a caller can answer it
            deltas.put(exc)

    def log(self, actor: str) -> None:
        """Keep the routing record in the probe log when the server was started with --log-probes (else nothing)."""
        base = self.answer if self.decision.chosen is None else None
        self.services.log_probes([RoutingRecord(self.decision, base, self.answer)], actor)


def serve(services: Services, prompt: Prompt, settings: GenerationSettings, whole: bool = False) -> Served:
    """Route the prompt (a chat: its last user message) in a batched pass with other requests (services.batching);
    `whole`: the answer is made before this returns; else a stream: its deltas follow as the pass makes them."""
    name = "prompt" if isinstance(prompt, str) else "messages: the last user message"
    query = clean_field(name, routed_text(prompt), services.config.max_prompt_chars)
    answered = query if isinstance(prompt, str) else prompt  # a completion is answered as validated (stripped)
    services.sync()
    job = services.batcher.answer(query, answered, settings, stream=not whole)
    served = Served(job.decision, job.generation, services, route_ms=job.route_ms, batch=job.batch, deltas=job.deltas)
    if whole:
        served.answer, served.done = job.text, True
    elif job.deltas is None:  # a remote base: send the request now (BaseUnavailable when it is down)
        job.generation.open()
    return served
