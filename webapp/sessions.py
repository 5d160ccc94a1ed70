"""UI login sessions with a lifetime, ended at once when their user is removed.

Gradio keeps its logins in `app.tokens` (cookie value -> user name) forever, and every route it guards asks that
mapping (`tokens.get(cookie)`) on each request. `install_sessions` gives the mounted Gradio app a `SessionTokens`
instead: the same mapping, which also records when each login was made and answers None for one older than the
lifetime or whose user is no longer in the edit log (`app.py user remove`, or removed by another instance). So
the next request of such a session gets Gradio's own 401 / login page, and the entry is dropped.

Invariants: a session never outlives `config.session_lifetime_s`; a removed user's sessions end at their next
request on every instance (the users table is read on each request, as for tokens); a role change needs no
session change, as every callback reads the role from the edit log (webapp.ui.user_resolver); at most
MAX_SESSIONS logins are held (the oldest dropped first), so logging in again and again cannot grow memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import Mount

MAX_SESSIONS = 10_000


class SessionTokens(dict):
    """Gradio's token -> user name mapping, with a lifetime and a check that the user still exists."""

    def __init__(
        self,
        lifetime_s: float,
        exists: Callable[[str], bool],
        clock: Callable = time.monotonic,
        max_sessions: int = MAX_SESSIONS,
    ):
        super().__init__()
        self.lifetime_s, self.exists, self.clock, self.max_sessions = lifetime_s, exists, clock, max_sessions
        self._made: dict[str, float] = {}
        self._lock = threading.Lock()

    def __setitem__(self, token: str, name: str) -> None:
        with self._lock:
            while len(self._made) >= self.max_sessions:
                oldest = next(iter(self._made))
                self._made.pop(oldest)
                super().pop(oldest, None)
            self._made[token] = self.clock()
            super().__setitem__(token, name)

    def get(self, token, default=None):
        name = super().get(token)
        if name is None:
            return default
        if self.clock() - self._made.get(token, float("-inf")) > self.lifetime_s or not self.exists(name):
            self.end(token)
            return default
        return name

    def __contains__(self, token) -> bool:
        return self.get(token) is not None

    def __delitem__(self, token) -> None:
        self.end(token)

    def end(self, token) -> None:
        with self._lock:
            self._made.pop(token, None)
            super().pop(token, None)


def install_sessions(server: FastAPI, lifetime_s: float, exists: Callable[[str], bool]) -> SessionTokens:
    """Give the Gradio app mounted on `server` a SessionTokens (call after gr.mount_gradio_app)."""
    apps = [r.app for r in server.routes if isinstance(r, Mount) and hasattr(r.app, "tokens")]
    if len(apps) != 1:
        raise RuntimeError(f"expected one mounted Gradio app, found {len(apps)}")
    apps[0].tokens = SessionTokens(lifetime_s, exists)
    return apps[0].tokens
