"""Which threads own OpenMP thread pools, so that torch's parallel products keep their speed in a server.

torch runs its several-row products (MKL) and its larger element-wise operations in OpenMP parallel regions,
through the libgomp it ships. Every thread that runs such a region gets a pool of helper threads of its own, kept
until that thread exits. Between two regions the helpers spin, ready for the next one, for about 3 ms; but only
while the process's pools hold no more threads than there are CPUs: beyond that libgomp spins 100 times, puts the
helpers to sleep, and every region pays to wake them. A decode step runs about 150 regions.

So a server's long-lived threads must not own pools: a pool made while loading the models, in the main thread
(which then runs the event loop for the process's whole life), made every later step of the batcher's thread
(services.batching, a pool of its own) wake sleeping helpers. Measured on this 2-core CPU, serving 8 clients
(scripts/serve_bench.py): an 8-row decode step took p50 72-78 ms with the models loaded in the main thread and
57-60 ms with them loaded in a passing thread; 8 clients got 4.9-5.5 requests/s against 6.3-7.0. Alone in a
script, the 30 layers' products at 8 rows took 35 ms in the thread that first ran torch and 48 ms in a second
thread once the first owned a pool.

The same holds for the server's request threads (anyio's pool, which keeps a busy worker for as long as requests
come): a curator's probe or `/api/ask` that generated on one would leave it a pool. So the model work they do under
the model slot runs on a passing thread too (services.model_slot `run`).

Invariant: `in_passing_thread` returns what `work` returns or raises what it raised; the thread it ran on has
ended (and with it its pool) when it returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_passing_thread(work: Callable[[], T], name: str) -> T:
    """Run `work` on a new thread that ends when it returns, so any OpenMP pool it makes ends with it.
    A daemon thread: an interrupted caller (Ctrl-C while models load) does not wait for it."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller, which raises it where it can be answered
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
