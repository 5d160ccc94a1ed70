"""Who may use the curator: users with hashed passwords and roles, API tokens hashed at rest, a login rate limit.

The users file is JSON: {"users": {"alice": {"role": "curator", "password": "scrypt$...", "tokens": [sha256, ...]}}}.

Invariants:
- no password or token is ever stored in clear: passwords as salted scrypt hashes (stdlib hashlib.scrypt),
  tokens as their sha256 (a token is shown once, when it is created);
- roles: `viewer` reads and probes; `curator` also writes (edits, imports, threshold);
- after MAX_FAILURES failed logins for a name within WINDOW_S seconds, that name is locked until the
  window passes, even with the right password;
- comparisons of hashes are constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from core.errors import EditorError, InvalidInput

ROLES = ("viewer", "curator")
MAX_FAILURES, WINDOW_S = 5, 300.0
MAX_TRACKED = 10_000  # names with recent failures held before expired ones are dropped
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class NotAuthenticated(EditorError):
    """No valid credentials were given."""

    http_status = 401


class Forbidden(EditorError):
    """The user is known but their role does not allow the action."""

    http_status = 403


@dataclass(frozen=True)
class User:
    name: str
    role: str = "viewer"

    @property
    def can_write(self) -> bool:
        return self.role == "curator"


def require_curator(user: User) -> None:
    """Raise Forbidden unless the user may change the edit log."""
    if not user.can_write:
        raise Forbidden(f"user {user.name!r} is a {user.role}; only curators can change edits or settings")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LoginLimiter:
    """Counts failed logins per name in a sliding window. Checking a name stores nothing, and names whose
    failures have all expired are dropped once more than MAX_TRACKED are held, so guessing many names
    cannot grow memory without bound."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S):
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def locked(self, name: str) -> bool:
        with self._lock:
            return name in self._failures and len(self._recent(name)) >= self.max_failures

    def fail(self, name: str) -> None:
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:
                self._forget_expired()
            self._recent(name).append(time.monotonic())

    def reset(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)

    def tracked(self) -> int:
        with self._lock:
            return len(self._failures)

    def _recent(self, name: str) -> deque:
        q, now = self._failures[name], time.monotonic()
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def _forget_expired(self) -> None:
        for name in [n for n in self._failures if not self._recent(n)]:
            del self._failures[name]


class UserStore:
    """The users file, loaded in memory; writes go back to the file at once."""

    def __init__(self, path: str | Path, limiter: LoginLimiter | None = None):
        self.path = Path(path)
        self.limiter = limiter or LoginLimiter()
        self._lock = threading.Lock()
        self._users = self._read()

    def authenticate(self, name: str, password: str) -> User | None:
        """The user for a name and password, or None (also None while the name is locked out)."""
        name = (name or "").strip()
        if self.limiter.locked(name):
            return None
        entry = self._users.get(name)
        if entry is None or not verify_password(password or "", entry.get("password", "")):
            self.limiter.fail(name)
            return None
        self.limiter.reset(name)
        return User(name, entry["role"])

    def user_for_token(self, token: str | None) -> User | None:
        if not token:
            return None
        wanted = token_hash(token)
        for name, entry in self._users.items():
            if any(hmac.compare_digest(wanted, t) for t in entry.get("tokens", [])):
                return User(name, entry["role"])
        return None

    def get(self, name: str | None) -> User | None:
        entry = self._users.get(name or "")
        return User(name, entry["role"]) if entry else None

    def names(self) -> list[str]:
        return sorted(self._users)

    def set_user(self, name: str, role: str, password: str) -> User:
        name = _check_name(name)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {ROLES}, got {role!r}")
        if len(password) < 8:
            raise InvalidInput("password must have at least 8 characters")
        with self._lock:
            entry = self._users.setdefault(name, {"tokens": []})
            entry.update(role=role, password=hash_password(password))
            self._write()
        return User(name, role)

    def create_token(self, name: str) -> str:
        """A new API token for the user; only its hash is kept, so the caller must show it now."""
        with self._lock:
            if name not in self._users:
                raise InvalidInput(f"no user named {name!r} in {self.path}")
            token = "serac_" + secrets.token_urlsafe(32)
            self._users[name].setdefault("tokens", []).append(token_hash(token))
            self._write()
        return token

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        try:
            users = json.loads(self.path.read_text(encoding="utf-8")).get("users", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"cannot read users file {self.path}: {exc}") from None
        for name, entry in users.items():
            if not isinstance(entry, dict) or entry.get("role") not in ROLES or "password" not in entry:
                raise InvalidInput(f"users file {self.path}: user {name!r} needs a role in {ROLES} and a password hash")
        return users

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"users": self._users}, indent=2, sort_keys=True), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


def ensure_first_user(store: UserStore, name: str = "admin") -> str | None:
    """With no users at all, create a curator `name` with a random password and return it (shown once)."""
    if store.names():
        return None
    password = secrets.token_urlsafe(12)
    store.set_user(name, "curator", password)
    return password


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "-_.@" for ch in name):
        raise InvalidInput(f"user name must be 1-64 letters, digits or -_.@, got {name!r}")
    return name
