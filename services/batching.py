"""Batched serving: requests asked at about the same time share one routing pass and one decode loop per model,
instead of one of each per request: whole answers and streams, greedy and sampled.

A request (its validated query, the prompt the chosen model answers, its settings) joins a queue. One worker thread
(started when the queue fills, gone when it empties) waits WINDOW_S for company, takes the model slot, takes the
queued requests (up to MAX_BATCH), routes them in one call (one embedding batch, one retrieval, one scoring batch),
and decodes the answers of each local model family in one loop (core.generation.generate_together: the base model
and the counterfactual LoRA adapter, kept unmerged over the base weights, step together): each row picks its
tokens by its own rule (argmax, or its own seeded sampler) and leaves the batch when its answer ends, and its
request is answered then, not when the pass ends. Requests queued while a pass decodes join it between tokens
(continuous batching: routed in one call, their prompts run, their rows added beside the others) while the batch
has room and nobody else waits for the model slot, so the batch stays full instead of waiting for its slowest row.
A stream's deltas go to its queue as they are made, so its reader sends them at once. A remote base's answers
(core.remote_base) are not generated in the pass: each request sends its own, once routed, without the model slot.

Gathering: clients that send one request after another (an application's worker threads) come back a few
milliseconds after their answers, just after the next pass has started without them; passes then alternate
between two halves of the clients. So a pass first waits, holding the slot for at most GATHER_S, until as many
requests are queued as were queued or running at once during the previous pass (`expected`); a lone client
expects only itself and never waits.

Invariants:
- each answer (text, deltas, finish reason, usage) equals the one the request gets alone, with the same routing
  decision: greedy exactly (left padding and a shared prompt prefix handled by CausalLM.decode_together); sampled
  with the same seed, to the float precision of the batch's logits;
- every pass holds the model slot (its gathering wait too, at most GATHER_S); a stream's reader never holds it; a
  pass takes no more joiners once another thread waits for the slot (a write, a curator's probe), so it ends;
- a request's own error (a prompt too long for the model) is its own and raised before its answer starts; a failure
  of the whole pass is raised to every request in it (in a stream that started: its last item); no request is left
  waiting; a stream whose reader left (`cancel`) leaves the batch at its next token.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from core.generation import GenerationSettings, Prompt, TextGeneration, generate_together
from core.serac import SeracEditor
from core.types import RoutingDecision
from services.model_slot import ModelSlot

WINDOW_S = 0.01  # how long the worker waits for company before it asks for the model slot
GATHER_S = 0.1  # the most a pass waits, holding the slot, for the company the previous pass had
MAX_BATCH = 16
END = object()  # the last item of a stream's deltas (or the exception that ended it)


@dataclass(eq=False)
class Job:
    query: str
    prompt: Prompt
    settings: GenerationSettings
    deltas: queue.Queue | None = None  # a stream's: text deltas, then END or an exception
    routed: threading.Event = field(default_factory=threading.Event)  # decision and generation known (or error)
    done: threading.Event = field(default_factory=threading.Event)  # the pass is over
    decision: RoutingDecision | None = None
    route_ms: float = 0.0
    generation: TextGeneration | None = None
    text: str | None = None  # a local whole answer, once done
    error: BaseException | None = None
    batch: int = 0  # how many requests shared this request's pass
    queued_ms: float = 0.0  # from joining the queue to its pass starting
    joined: float = field(default_factory=time.perf_counter)
    finished: bool = False  # answered (or failed) and its caller woken


class RequestBatcher:
    """Routes and answers queued requests together on one worker thread, under the model slot."""

    def __init__(self, editor: SeracEditor, slot: ModelSlot, window_s: float = WINDOW_S, gather_s: float = GATHER_S):
        self.editor, self.slot, self.window_s, self.gather_s = editor, slot, window_s, gather_s
        self._queue: list[Job] = []
        self._cond = threading.Condition(threading.Lock())  # guards the queue, the worker flag and the counts
        self._working = False  # a worker thread is running
        self._active = 0  # requests queued or in a pass now
        self._peak = 0  # the most active at once since the current pass started
        self.expected = 1  # the company a pass gathers: the previous pass's peak
        self.passes = 0  # passes run (tests and benchmarks read it)
        self.sizes: Counter[int] = Counter()  # requests per pass -> passes

    def answer(self, query: str, prompt: Prompt, settings: GenerationSettings, stream: bool = False) -> Job:
        """Route `query` and answer `prompt` with the chosen model. Whole (default): returns once the answer is made
        (`text`; None for a remote base's, which the caller sends). A stream: returns once routed; the local
        model's deltas then arrive in `deltas`. Raises the request's own error before any answer starts."""
        job = Job(query, prompt, settings, deltas=queue.Queue() if stream else None)
        with self._cond:
            self._queue.append(job)
            self._active += 1
            self._peak = max(self._peak, self._active)
            self._cond.notify_all()
            if not self._working:
                self._working = True
                threading.Thread(target=self._work, daemon=True, name="serac-batcher").start()
        (job.routed if stream else job.done).wait()
        if job.error is not None and (not stream or job.generation is None):
            raise job.error
        if not stream and job.text is None:  # a remote base's answer: sent now, without the model slot
            job.generation.open()
            job.text = "".join(job.generation)
        return job

    def _work(self) -> None:
        """Run passes while requests are queued; then end (the next request starts a new worker)."""
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        self._working = False
                        return
                time.sleep(self.window_s)
                with self.slot:
                    self._pass(self._take())
        except BaseException:  # the worker itself failed (not a pass: passes keep their errors): start another
            with self._cond:
                self._working = False
            raise

    def _take(self) -> list[Job]:
        """The next pass's requests, after waiting (at most gather_s) for as many as the previous pass expected."""
        with self._cond:
            want = min(self.expected, MAX_BATCH)
            self._cond.wait_for(lambda: len(self._queue) >= want, self.gather_s)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self.expected, self._peak = max(self._peak, 1), self._active
        started = time.perf_counter()
        for job in batch:
            job.batch, job.queued_ms = len(batch), (started - job.joined) * 1e3
        self.sizes[len(batch)] += 1
        self.passes += 1  # counted as it starts: a request answered by a pass sees it counted
        return batch

    def _pass(self, batch: list[Job]) -> None:
        """Route and answer `batch`; requests that arrive meanwhile join it between tokens (`batch` grows)."""
        try:
            self._generate(self._routed(batch), batch)
        except BaseException as exc:  # every request of the pass still unanswered answers the failure
            for job in batch:
                if not job.finished:  # an answered request's caller may be reading it: left as it was
                    job.error = job.error or exc
        finally:
            for job in batch:
                self._finish(job)

    def _routed(self, jobs: list[Job]) -> list[Job]:
        """Route jobs in one call and build their generations; those a local model answers (the rest are finished:
        a request's own error, or a remote base's answer, which its request sends without the slot)."""
        decisions, timings = self.editor.route([j.query for j in jobs])
        local = []
        for job, decision in zip(jobs, decisions):
            job.decision, job.route_ms = decision, timings.route_ms
            try:
                job.generation = self.editor.generation(decision, job.prompt, job.settings)
            except Exception as exc:  # this request's own error (InvalidParameter: too long)
                job.error = exc
            if job.error is None and getattr(job.generation, "batchable", False):
                job.text = ""
                local.append(job)
            else:
                job.deltas = None  # a remote base's stream is read from its generation by its request
                self._finish(job)
            job.routed.set()  # streams start
        return local

    def _generate(self, jobs: list[Job], batch: list[Job]) -> None:
        """Each local model family's answers in one batched decode loop (the base model's rows and the unmerged
        counterfactual adapter's share each pass over the weights); a request's answer is finished when its row
        ends; queued requests join between tokens while nobody else waits for the slot (continuous batching)."""
        groups: dict[int, list[Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.generation.lm.family), []).append(job)
        while groups:
            group = groups.pop(next(iter(groups)))
            family = group[0].generation.lm.family

            def join(live: int, group=group, family=family) -> list:
                if live >= MAX_BATCH or self.slot.waiting()[0]:
                    return []
                taken = self._take_now(MAX_BATCH - live)
                batch.extend(taken)
                fits = []
                for job in self._routed(taken):
                    same = job.generation.lm.family is family
                    (fits if same else groups.setdefault(id(job.generation.lm.family), [])).append(job)
                for job in fits:
                    job.batch = live + len(fits)
                group.extend(fits)
                return [j.generation for j in fits]

            for job in group:
                job.batch = len(group)
            generate_together(
                [j.generation for j in group], _emitter(group), join, lambda i, g=group: self._finish(g[i])
            )

    def _take_now(self, most: int) -> list[Job]:
        """Up to `most` queued requests, at once (no waiting)."""
        with self._cond:
            taken, self._queue = self._queue[:most], self._queue[most:]
        started = time.perf_counter()
        for job in taken:
            job.queued_ms = (started - job.joined) * 1e3
        return taken

    def _finish(self, job: Job) -> None:
        """The request's answer is whole (or failed): its stream ends, its caller wakes. Once per request."""
        if job.finished:
            return
        job.finished = True
        if job.deltas is not None:
            job.deltas.put(job.error if job.error is not None else END)
        job.routed.set()
        job.done.set()
        with self._cond:
            self._active -= 1


def _emitter(group: list[Job]):
    """Where row i's deltas go: its text, and its stream's queue."""

    def emit(i: int, delta: str) -> None:
        group[i].text += delta
        if group[i].deltas is not None:
            group[i].deltas.put(delta)

    return emit
