"""Limits on heavy reads, so that one viewer cannot stall everyone: probe sets, threshold sweeps, scope maps,
whole-log probe checks, POST /api/ask and the /v1 answers go through one `HeavyGate` per server.

- Per user (each of the user's tokens and their UI session share these): at most `per_user` admitted at once,
  and a token bucket of `burst` starts refilled at `per_minute`; beyond either, `RateLimited` (429, Retry-After).
  So one client flooding gets 429s, and its flood never fills the server's bound by itself.
- A bound on how many are admitted at once, all users together (running, or waiting for the model slot): one
  more is refused at once with `Busy` (503, Retry-After) instead of piling up behind the others.

Invariants:
- writes (add, retire, restore, change target, threshold) never pass through here: they are never refused for
  load, and their model work goes ahead of waiting reads (services.model_slot);
- a refused operation holds nothing and changes nothing (no rate token spent while the queue is full); an
  admitted one gives its place back however it ends;
- memory is bounded: a user's bucket is dropped once it has refilled (an idle user costs nothing).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import EditorError


class Refused(EditorError):
    """Heavy work refused for load; `headers` carries Retry-After (read by the API's error handlers)."""

    def __init__(self, message: str, retry_after_s: float):
        self.retry_after = max(1, math.ceil(retry_after_s))
        super().__init__(f"{message}; try again in {self.retry_after} s")
        self.headers = {"Retry-After": str(self.retry_after)}


class Busy(Refused):
    """Too much heavy work is running or waiting already."""

    http_status = 503


class RateLimited(Refused):
    """This user started heavy work faster than their rate allows."""

    http_status = 429


@dataclass
class _Bucket:
    tokens: float
    at: float


class HeavyGate:
    """Admits heavy work: at most `max_inflight` at once, and per user `per_user` at once and `per_minute` (0: no
    rate) with `burst`."""

    def __init__(
        self,
        max_inflight: int,
        per_minute: float,
        burst: int,
        per_user: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_inflight, self.per_minute, self.burst, self.clock = max_inflight, per_minute, burst, clock
        self.per_user = per_user or max_inflight
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._users: dict[str, int] = {}  # admitted and not yet left, per user (only users with some)
        self.inflight = 0
        self._mean_s = 1.0  # how long one heavy operation takes, smoothed (for Busy's Retry-After)
        self.refused = {"busy": 0, "rate": 0}

    @classmethod
    def from_config(cls, config) -> HeavyGate:
        """The gate of core.config.SeracConfig's heavy_* fields."""
        return cls(config.heavy_queue, config.heavy_per_minute, config.heavy_burst, config.heavy_per_user)

    @contextmanager
    def admit(self, user: str) -> Iterator[None]:
        """Run the block as one heavy operation of `user`, or raise Busy / RateLimited before it starts."""
        self.enter(user)
        started = self.clock()
        try:
            yield
        finally:
            self.leave(user, self.clock() - started)

    def enter(self, user: str) -> None:
        """Take a place (and one of the user's rate tokens) or raise RateLimited / Busy; `leave(user)` gives it back."""
        with self._lock:
            now = self.clock()
            bucket = self._refill(user, now)
            if bucket is not None and bucket.tokens < 1.0:
                self.refused["rate"] += 1
                wait = (1.0 - bucket.tokens) * 60.0 / self.per_minute
                raise RateLimited(f"too many probes, sweeps or answers from {user!r} (limit {self._rate()})", wait)
            mine = self._users.get(user, 0)
            if mine >= self.per_user:
                self.refused["rate"] += 1
                wait = self._mean_s
                raise RateLimited(
                    f"{user!r} has {mine} probes or answers running or waiting (limit {self.per_user})", wait
                )
            if self.inflight >= self.max_inflight:
                self.refused["busy"] += 1
                wait = self._mean_s * self.inflight
                raise Busy(
                    f"the server is busy with {self.inflight} probes or answers (limit {self.max_inflight})", wait
                )
            if bucket is not None:
                bucket.tokens -= 1.0
            self.inflight += 1
            self._users[user] = mine + 1

    def leave(self, user: str, took_s: float = 0.0) -> None:
        """Give back the place `enter(user)` took."""
        with self._lock:
            self.inflight -= 1
            left = self._users.get(user, 1) - 1
            if left > 0:
                self._users[user] = left
            else:
                self._users.pop(user, None)
            self._mean_s = 0.8 * self._mean_s + 0.2 * max(0.0, took_s)

    def _refill(self, user: str, now: float) -> _Bucket | None:
        """The user's bucket, refilled to now (None when there is no rate limit); full buckets of others dropped."""
        if self.per_minute <= 0:
            return None
        bucket = self._buckets.get(user) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_minute / 60.0)
        bucket.at = now
        self._buckets[user] = bucket
        if len(self._buckets) > 256:  # forget idle users: a full bucket is what a new one starts with
            full = [name for name, b in self._buckets.items() if name != user and self._is_full(b, now)]
            for name in full:
                del self._buckets[name]
        return bucket

    def _is_full(self, bucket: _Bucket, now: float) -> bool:
        return bucket.tokens + (now - bucket.at) * self.per_minute / 60.0 >= self.burst

    def _rate(self) -> str:
        return f"{self.per_minute:g} per minute, {self.burst} at once"
