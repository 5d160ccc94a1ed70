"""AccountRepository: the UI/API users and their API tokens, kept in the edit-log database (tables `users`
and `api_tokens`, migration m004_accounts), so every instance on one database and the CLI share them.

Invariants:
- the repository migrates the database when it is created, like EditRepository;
- it stores only what it is given: password hashes and token sha256 hashes (webapp.auth makes them);
  nothing here ever sees a clear password or token;
- every read asks the database (no cache), so a user, role or token written by another process or
  instance counts at the next call, and a revoked token is refused at once;
- a token is found by its hash through the unique index `ix_api_tokens_hash` (never a scan over users);
- a user name is unique (constraint `uq_users_name`); `create_first` and `import_accounts` write only
  into an empty users table, inside one serialised write transaction, so concurrent starts do it once;
- user and token changes are not edits: they do not enter the edit audit chain (db.audit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict
from db.audit import utc
from db.engine import create_engine, read_transaction, write_transaction
from db.migrations import migrate
from db.models import api_tokens, users


@dataclass(frozen=True)
class Account:
    """A stored user: the name, its role and its scrypt password hash."""

    name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class TokenRecord:
    """A stored API token, without its hash: what `token list` shows."""

    id: int
    user: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ImportedAccount:
    """One user of a legacy users file: name, role, password hash and token hashes."""

    name: str
    role: str
    password_hash: str
    token_hashes: tuple[str, ...] = ()


_ACCOUNT = (users.c.name, users.c.role, users.c.password_hash)
_TOKEN = (api_tokens.c.id, users.c.name, api_tokens.c.label, api_tokens.c.created_at, api_tokens.c.revoked_at)
_TOKENS_AND_USERS = api_tokens.join(users, users.c.id == api_tokens.c.user_id)
_TOKEN_LIST = sa.select(*_TOKEN).select_from(_TOKENS_AND_USERS)
_USER_COUNT = sa.select(sa.func.count()).select_from(users)


def token_lookup(hashed: str) -> sa.Select:
    """The active token with this hash and its user: an equality on the unique index ix_api_tokens_hash."""
    return (
        sa.select(*_ACCOUNT, api_tokens.c.token_hash)
        .select_from(_TOKENS_AND_USERS)
        .where(api_tokens.c.token_hash == hashed, api_tokens.c.revoked_at.is_(None))
    )


class AccountRepository:
    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url)
        migrate(self.engine)

    # ---- reads --------------------------------------------------------------------------
    def account(self, name: str) -> Account | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(sa.select(*_ACCOUNT).where(users.c.name == name)).first()
        return Account(*row) if row else None

    def accounts(self) -> list[Account]:
        with read_transaction(self.engine) as conn:
            return [Account(*row) for row in conn.execute(sa.select(*_ACCOUNT).order_by(users.c.name))]

    def count(self) -> int:
        with read_transaction(self.engine) as conn:
            return conn.execute(_USER_COUNT).scalar_one()

    def account_for_token(self, hashed: str) -> tuple[Account, str] | None:
        """The user of the active (not revoked) token with this sha256, and the stored hash; or None."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(token_lookup(hashed)).first()
        return (Account(*row[:3]), row[3]) if row else None

    def tokens(self, name: str | None = None) -> list[TokenRecord]:
        query = _TOKEN_LIST
        if name is not None:
            query = query.where(users.c.name == name)
        with read_transaction(self.engine) as conn:
            return [_token(row) for row in conn.execute(query.order_by(api_tokens.c.id))]

    # ---- writes -------------------------------------------------------------------------
    def save_account(self, name: str, role: str, password_hash: str) -> bool:
        """Add the user, or give an existing one this role and password hash; True when it was added."""
        with write_transaction(self.engine) as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
            if found is None:
                conn.execute(
                    users.insert().values(name=name, role=role, password_hash=password_hash, created_at=_now())
                )
                return True
            conn.execute(users.update().where(users.c.id == found).values(role=role, password_hash=password_hash))
            return False

    def set_role(self, name: str, role: str) -> None:
        with write_transaction(self.engine) as conn:
            if not conn.execute(users.update().where(users.c.name == name).values(role=role)).rowcount:
                raise InvalidInput(f"no user named {name!r}")

    def upgrade_password_hash(self, name: str, old_hash: str, new_hash: str) -> bool:
        """Replace a user's password hash only if it is still `old_hash` (a re-hash of the same password at a new
        cost must never undo a password change made meanwhile); True when replaced."""
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                users.update()
                .where(users.c.name == name, users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )
            return bool(done.rowcount)

    def remove_account(self, name: str) -> int:
        """Delete a user and their API tokens in one transaction; returns how many tokens went with them."""
        with write_transaction(self.engine) as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
            if user_id is None:
                raise InvalidInput(f"no user named {name!r}")
            gone = conn.execute(api_tokens.delete().where(api_tokens.c.user_id == user_id)).rowcount
            conn.execute(users.delete().where(users.c.id == user_id))
            return gone

    def add_token(self, name: str, hashed: str, label: str | None = None) -> TokenRecord:
        with write_transaction(self.engine) as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
            if user_id is None:
                raise InvalidInput(f"no user named {name!r}; add one with `app.py user add {name}`")
            now = _now()
            values = dict(token_hash=hashed, user_id=user_id, label=label, created_at=now)
            token_id = conn.execute(api_tokens.insert().values(**values)).inserted_primary_key[0]
        return TokenRecord(token_id, name, label, now, None)

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Revoke a token by its id (`token list` shows ids); refused when unknown or already revoked."""
        with write_transaction(self.engine) as conn:
            row = conn.execute(_TOKEN_LIST.where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise InvalidInput(f"no API token with id {token_id}; `app.py token list` shows them")
            if row.revoked_at is not None:
                raise StateConflict(f"API token {token_id} of {row.name} is already revoked")
            now = _now()
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=now))
        return TokenRecord(row.id, row.name, row.label, utc(row.created_at), now)

    def create_first(self, name: str, role: str, password_hash: str) -> bool:
        """Add this user only if there are no users at all; True when this call added it. Concurrent callers
        are serialised by the write transaction; the unique name is the backstop, so a loser gets False."""
        try:
            with write_transaction(self.engine) as conn:
                if conn.execute(_USER_COUNT).scalar_one():
                    return False
                conn.execute(
                    users.insert().values(name=name, role=role, password_hash=password_hash, created_at=_now())
                )
                return True
        except sa.exc.IntegrityError:
            return False

    def import_accounts(self, entries: Sequence[ImportedAccount]) -> int:
        """Insert these users and their token hashes in one transaction, only into an empty users table;
        returns how many users were added (0 when the table already had users)."""
        try:
            with write_transaction(self.engine) as conn:
                if conn.execute(_USER_COUNT).scalar_one():
                    return 0  # concurrent importers are serialised: the later ones find the users here
                for entry in entries:
                    _insert_imported(conn, entry, _now())
                return len(entries)
        except sa.exc.IntegrityError as exc:
            raise InvalidInput(f"users not imported (nothing was): {str(exc.orig).splitlines()[0]}") from None


def _insert_imported(conn: sa.Connection, entry: ImportedAccount, now: datetime) -> None:
    values = dict(name=entry.name, role=entry.role, password_hash=entry.password_hash, created_at=now)
    user_id = conn.execute(users.insert().values(**values)).inserted_primary_key[0]
    rows = [
        dict(token_hash=h, user_id=user_id, label="imported", created_at=now) for h in dict.fromkeys(entry.token_hashes)
    ]
    if rows:
        conn.execute(api_tokens.insert(), rows)


def _token(row) -> TokenRecord:
    revoked = utc(row.revoked_at) if row.revoked_at is not None else None
    return TokenRecord(row.id, row.name, row.label, utc(row.created_at), revoked)


def _now() -> datetime:
    return datetime.now(UTC)
