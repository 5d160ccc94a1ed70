"""UI login sessions (webapp/sessions.py): Gradio's token mapping with a lifetime, ended when the user is removed,
and bounded in size."""

from __future__ import annotations

from webapp import sessions
from webapp.sessions import SessionTokens


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_its_lifetime():
    clock = Clock()
    tokens = SessionTokens(60.0, lambda name: True, clock)
    tokens["t1"] = "alice"
    clock.now = 59.0
    assert tokens.get("t1") == "alice" and "t1" in tokens
    clock.now = 61.0
    assert tokens.get("t1") is None and "t1" not in tokens and len(tokens) == 0  # dropped, not only hidden


def test_a_removed_users_sessions_end_at_their_next_request():
    users = {"alice", "bob"}
    tokens = SessionTokens(3600.0, users.__contains__, Clock())
    tokens["a"], tokens["b"] = "alice", "bob"
    users.discard("alice")
    assert tokens.get("a") is None and tokens.get("b") == "bob"


def test_logout_still_finds_and_ends_sessions():
    tokens = SessionTokens(3600.0, lambda name: True, Clock())
    tokens["a1"], tokens["a2"], tokens["b"] = "alice", "alice", "bob"
    for token in list(tokens.keys()):  # what Gradio's /logout does
        if tokens[token] == "alice":
            del tokens[token]
    assert list(tokens) == ["b"]


def test_logging_in_again_and_again_cannot_grow_memory():
    assert sessions.MAX_SESSIONS == 10_000
    tokens = SessionTokens(3600.0, lambda name: True, Clock(), max_sessions=100)
    for i in range(1000):
        tokens[f"t{i}"] = "alice"
    assert len(tokens) == 100 and tokens.get("t999") == "alice" and tokens.get("t0") is None
