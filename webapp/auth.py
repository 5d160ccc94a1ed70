"""Who may use the curator: users with hashed passwords and roles, API tokens hashed at rest, a login rate limit.

Users and tokens live in the edit-log database (db.accounts): `UserStore` reads it on every authenticate,
user_for_token and get, so a user, role change or token written by the CLI or by another instance on the
same database counts at once, a revoked token is refused at once, and a removed user's UI sessions end at their
next request (webapp.sessions). A legacy JSON users file
({"users": {"alice": {"role": "curator", "password": "scrypt$...", "tokens": [sha256, ...]}}}) is imported
once, whole, into an empty users table (`UserStore.import_file`); after that it is never read.

Invariants:
- no password or token is ever stored in clear: passwords as salted scrypt hashes (webapp.passwords, at OWASP's
  cost; an older-cost hash is upgraded in the database at its owner's next successful login), tokens as their
  sha256 (a token is shown once, when it is created);
- roles: `viewer` reads and probes; `curator` also writes (edits, imports, threshold);
- logins back off per client address and per name (webapp.login_limit): an attempt during a backoff raises
  LoginBackoff (HTTP 429) without any password work; an unknown name costs the same scrypt work as a known one;
- comparisons of hashes are constant-time (hmac.compare_digest); a token is found by an index lookup on its
  sha256 (which tells a timing observer nothing about the token itself), then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from pathlib import Path

from core.errors import EditorError, InvalidInput
from core.text import clean_field
from db.accounts import AccountRepository, ImportedAccount, TokenRecord
from webapp.login_limit import LoginLimiter
from webapp.passwords import dummy_hash, hash_password, needs_rehash, verify_password

__all__ = ["LoginLimiter", "hash_password", "verify_password"]  # re-exported: callers import them from here

ROLES = ("viewer", "curator")
MAX_LABEL = 128  # characters of a token label
MAX_NAME = 64  # characters of a user name


class NotAuthenticated(EditorError):
    """No valid credentials were given."""

    http_status = 401


class LoginBackoff(EditorError):
    """Too many failed logins from this address (or for this name from it): wait `retry_after_s` seconds."""

    http_status = 429

    def __init__(self, wait_s: float):
        self.retry_after_s = max(1, math.ceil(wait_s))
        super().__init__(f"too many failed logins; try again in {self.retry_after_s} s")


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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserStore:
    """Users and API tokens in the edit-log database (db.accounts.AccountRepository), read on every call."""

    def __init__(self, accounts: AccountRepository, limiter: LoginLimiter | None = None):
        self.accounts = accounts
        self.limiter = limiter or LoginLimiter()

    def authenticate(self, name: str, password: str, address: str | None = None) -> User | None:
        """The user for a name and password, or None. `address` is the client's (webapp.client); while it must
        back off, LoginBackoff is raised before any password work. A hash made at an older cost is upgraded."""
        name = (name or "").strip()[: MAX_NAME + 1]
        wait = self.limiter.begin(name, address)
        if wait > 0:
            raise LoginBackoff(wait)
        account = self.accounts.account(name) if 0 < len(name) <= MAX_NAME else None
        stored = account.password_hash if account is not None else dummy_hash()  # the same work either way
        if not verify_password(password or "", stored) or account is None:
            return None
        self.limiter.succeeded(name, address)
        if needs_rehash(stored):
            self.accounts.upgrade_password_hash(account.name, stored, hash_password(password))
        return User(account.name, account.role)

    def user_for_token(self, token: str | None) -> User | None:
        """The user of an active API token, or None (unknown, revoked, or its user's row is gone)."""
        if not token:
            return None
        wanted = token_hash(token)
        found = self.accounts.account_for_token(wanted)
        if found is None or not hmac.compare_digest(wanted, found[1]):
            return None
        return User(found[0].name, found[0].role)

    def get(self, name: str | None) -> User | None:
        account = self.accounts.account(name) if name else None
        return User(account.name, account.role) if account else None

    def names(self) -> list[str]:
        return [a.name for a in self.accounts.accounts()]

    def users(self) -> list[User]:
        return [User(a.name, a.role) for a in self.accounts.accounts()]

    def set_user(self, name: str, role: str, password: str) -> User:
        """Add a user or give an existing one a new role and password."""
        name, role = _check_name(name), _check_role(role)
        if len(password) < 8:
            raise InvalidInput("password must have at least 8 characters")
        self.accounts.save_account(name, role, hash_password(password))
        return User(name, role)

    def set_role(self, name: str, role: str) -> User:
        """Change a user's role; it counts at the user's next request, on every instance."""
        name, role = _check_name(name), _check_role(role)
        self.accounts.set_role(name, role)
        return User(name, role)

    def create_token(self, name: str, label: str | None = None) -> str:
        """A new API token for the user; only its hash is kept, so the caller must show it now."""
        label = clean_field("label", label, MAX_LABEL, required=False)
        token = "serac_" + secrets.token_urlsafe(32)
        self.accounts.add_token(_check_name(name), token_hash(token), label)
        return token

    def tokens(self, name: str | None = None) -> list[TokenRecord]:
        """Every token (or one user's), revoked ones too, without hashes."""
        if name is not None and self.accounts.account(name) is None:
            raise InvalidInput(f"no user named {name!r}")
        return self.accounts.tokens(name)

    def remove_user(self, name: str) -> int:
        """Remove a user and their API tokens; their tokens and UI sessions are refused at the next request, on
        every instance. Returns how many tokens went with them."""
        return self.accounts.remove_account(_check_name(name))

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Revoke a token by id; it is refused at once by every instance."""
        return self.accounts.revoke_token(token_id)

    def import_file(self, path: str | Path) -> int:
        """Import a legacy users file once: only when it exists and the users table is empty, all its users and
        token hashes in one transaction. Returns the users imported (0: nothing to do). Afterwards the table
        has users, so the file is never read again."""
        path = Path(path)
        if not path.is_file() or self.accounts.count():
            return 0
        return self.accounts.import_accounts(read_users_file(path))


def read_users_file(path: Path) -> list[ImportedAccount]:
    """The users of a legacy JSON users file, checked whole: a bad entry rejects the file (InvalidInput)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8")).get("users", {})
        entries = list(found.items())
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"cannot read users file {path}: {exc}") from None
    out, seen = [], set()
    for name, entry in entries:
        ok = isinstance(entry, dict) and entry.get("role") in ROLES and isinstance(entry.get("password"), str)
        tokens = entry.get("tokens", []) if ok else None
        if not ok or not isinstance(tokens, list) or not all(_is_sha256(t) for t in tokens):
            raise InvalidInput(
                f"users file {path}: user {name!r} needs a role in {ROLES}, a password hash and sha256 tokens"
            )
        fresh = tuple(dict.fromkeys(tokens))
        if seen.intersection(fresh):
            raise InvalidInput(f"users file {path}: user {name!r} shares a token hash with another user")
        seen.update(fresh)
        out.append(ImportedAccount(_check_name(name), entry["role"], entry["password"], fresh))
    return out


def ensure_first_user(store: UserStore, name: str = "admin") -> str | None:
    """With no users at all, create a curator `name` with a random password and return it (shown once).
    Exactly one of several instances starting together creates it; the others get None."""
    if store.accounts.count():
        return None
    password = secrets.token_urlsafe(12)
    return password if store.accounts.create_first(name, "curator", hash_password(password)) else None


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {ROLES}, got {role!r}")
    return role


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or not all(ch.isalnum() or ch in "-_.@" for ch in name):
        raise InvalidInput(f"user name must be 1-64 letters, digits or -_.@, got {name!r}")
    return name
