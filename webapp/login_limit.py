"""The login rate limit: exponential backoff per client address and per user name, in bounded memory.

Every login attempt counts as a failure from the moment it starts (so a burst of concurrent guesses is counted
before any of them finishes) and is forgiven when it succeeds. Three counters move together:
- the client address: after ADDRESS_FREE failures, each attempt from it must wait 1 s, 2 s, 4 s ... up to
  ADDRESS_MAX_DELAY_S after its last failure, whatever name it tries (guessing many names from one place);
- the user name: after NAME_FREE failures, up to NAME_MAX_DELAY_S, but only for addresses that themselves failed
  on that name recently (the pair counter). So someone hammering `admin` slows down only themselves: a curator
  logging in as admin from another address is checked at once, never locked out. Guessing one name from many
  addresses still costs one address per guess per NAME_MAX_DELAY_S;
- a success resets the address's, the name's and the pair's counters (the delay starts again from zero).

Invariants:
- memory is bounded under any flood: at most max_tracked counters are held (names, addresses and pairs together,
  least recently failed dropped first), and counters idle for forget_s are dropped; checking stores nothing;
- an attempt refused for backoff does no password work and does not lengthen the delay;
- IPv6 addresses count per /64 (one host usually holds a whole /64);
- the limiter is per server instance, in memory (several instances on one database each count their own).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

ADDRESS_FREE, ADDRESS_MAX_DELAY_S = 10, 300.0
NAME_FREE, NAME_MAX_DELAY_S = 5, 30.0
BASE_DELAY_S = 1.0
FORGET_S = 900.0  # a counter with no failure for this long is dropped
MAX_TRACKED = 10_000  # counters held at most (about 200 bytes each)


def backoff(failures: int, free: int, cap: float) -> float:
    """Seconds to wait after the last failure: 0 for the first `free` failures, then 1, 2, 4, ... up to cap."""
    return 0.0 if failures < free else min(cap, BASE_DELAY_S * 2.0 ** min(failures - free, 32))


def address_key(address: str | None) -> str:
    """What counts as one client: the IP address, or its /64 network for IPv6; other strings as given."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


@dataclass
class _Counter:
    failures: int
    last: float


class LoginLimiter:
    def __init__(self, max_tracked: int = MAX_TRACKED, forget_s: float = FORGET_S, clock: Callable = time.monotonic):
        self.max_tracked, self.forget_s, self.clock = max_tracked, forget_s, clock
        self._counters: OrderedDict[tuple, _Counter] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def wait(self, name: str, address: str | None = None) -> float:
        """Seconds this address must wait before trying this name again (0: it may try now). Stores nothing."""
        with self._lock:
            return self._wait_locked(name, address_key(address))

    def begin(self, name: str, address: str | None = None) -> float:
        """Start an attempt: 0 and the attempt is counted as a failure until `succeeded`, or the seconds to wait
        (nothing counted)."""
        addr = address_key(address)
        with self._lock:
            left = self._wait_locked(name, addr)
            if left <= 0:
                for key in (("addr", addr), ("name", name), ("pair", addr, name)):
                    self._bump(key)
            return left

    def succeeded(self, name: str, address: str | None = None) -> None:
        addr = address_key(address)
        with self._lock:
            for key in (("addr", addr), ("name", name), ("pair", addr, name)):
                self._counters.pop(key, None)

    def tracked(self) -> int:
        with self._lock:
            return len(self._counters)

    def _wait_locked(self, name: str, addr: str) -> float:
        now = self.clock()
        left = self._left(("addr", addr), ADDRESS_FREE, ADDRESS_MAX_DELAY_S, now)
        if ("pair", addr, name) in self._counters:
            left = max(left, self._left(("name", name), NAME_FREE, NAME_MAX_DELAY_S, now))
        return left

    def _left(self, key: tuple, free: int, cap: float, now: float) -> float:
        counter = self._counters.get(key)
        return 0.0 if counter is None else counter.last + backoff(counter.failures, free, cap) - now

    def _bump(self, key: tuple) -> None:
        now = self.clock()
        counter = self._counters.pop(key, None)
        if counter is None or now - counter.last > self.forget_s:
            counter = _Counter(0, now)
        counter.failures, counter.last = counter.failures + 1, now
        self._counters[key] = counter  # to the end: the most recently failed
        self._trim(now)

    def _trim(self, now: float) -> None:
        """Drop idle counters (at the front), then the least recently failed ones while over the cap."""
        while self._counters:
            key, first = next(iter(self._counters.items()))
            if now - first.last <= self.forget_s and len(self._counters) <= self.max_tracked:
                break
            del self._counters[key]
