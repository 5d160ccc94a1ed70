"""The model slot: one holder at a time for model work (embedding, scoring, generation), with writes first.

A viewer's probe sets, sweeps and maps queue for the slot like everything else, but model work done inside
`slot.first()` (a write: embedding a new edit, checking its conflicts) goes ahead of every waiting reader, so
a write waits at most for the one piece of work that holds the slot now, never for the queue behind it.
Heavy reads take the slot in chunks (Services.route and Services.ask), so that piece is short. `run` does the work
on a passing thread (core.openmp): a request's thread, which lives on in the server's pool, never owns an OpenMP
pool that would slow the batcher's decode steps.

Invariants:
- at most one thread holds the slot; the holder may take it again (re-entrant), and must release it as often;
- while a `first` caller waits, no ordinary caller is given the slot; among equals, no order is promised;
- `acquire(timeout=...)` and `with slot:` behave like threading.Lock's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from core.openmp import in_passing_thread

T = TypeVar("T")


class ModelSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._holder: int | None = None
        self._depth = 0
        self._first_waiting = 0  # threads inside `first()` waiting for the slot
        self._waiting = 0  # all threads waiting for the slot
        self._local = threading.local()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me, urgent = threading.get_ident(), getattr(self._local, "first", 0) > 0
        with self._cond:
            if self._holder == me:
                self._depth += 1
                return True
            self._first_waiting += urgent
            self._waiting += 1
            try:
                free = self._cond.wait_for(
                    lambda: self._holder is None and (urgent or not self._first_waiting),
                    None if timeout < 0 else timeout if blocking else 0,
                )
            finally:
                self._first_waiting -= urgent
                self._waiting -= 1
            if free:
                self._holder, self._depth = me, 1
            return free

    def release(self) -> None:
        with self._cond:
            if self._holder != threading.get_ident():
                raise RuntimeError("the model slot is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._holder = None
                self._cond.notify_all()

    def __enter__(self) -> ModelSlot:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def run(self, work: Callable[[], T]) -> T:
        """`work`'s result, computed holding the slot, on a passing thread (its errors raised here)."""
        with self:
            return in_passing_thread(work, "serac-model")

    @contextmanager
    def first(self) -> Iterator[None]:
        """Model work this thread does inside goes ahead of ordinary waiters (for writes)."""
        self._local.first = getattr(self._local, "first", 0) + 1
        try:
            yield
        finally:
            self._local.first -= 1

    def waiting(self) -> tuple[int, int]:
        """(all threads waiting now, of which `first` callers): tests read it to know who is queued."""
        with self._cond:
            return self._waiting, self._first_waiting
