"""Users, password and token hashing, roles and the failed-login backoff (webapp/auth.py), on real temp SQLite
edit logs; the CLI's account commands (`app.py user`, `app.py token`) in subprocesses."""

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict
from db.accounts import AccountRepository
from webapp.auth import (
    Forbidden,
    LoginBackoff,
    LoginLimiter,
    User,
    UserStore,
    ensure_first_user,
    hash_password,
    require_curator,
    token_hash,
    verify_password,
)
from webapp.login_limit import NAME_FREE

APP = Path(__file__).resolve().parent.parent / "app.py"


def store_at(url: str, limiter: LoginLimiter | None = None) -> UserStore:
    return UserStore(AccountRepository(url), limiter)


def every_stored_value(url: str) -> str:
    """All values in the users and api_tokens tables, as one text (what a stolen database would show)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [*conn.exec_driver_sql("SELECT * FROM users"), *conn.exec_driver_sql("SELECT * FROM api_tokens")]
    engine.dispose()
    return " ".join(str(v) for row in rows for v in row)


def test_password_hash_is_salted_and_verifies():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$") and "correct horse" not in a
    assert verify_password("correct horse", a) and not verify_password("correct hors", a)
    assert not verify_password("x", "garbage") and not verify_password("x", "bcrypt$1$2$3$aa$bb")


def test_the_database_keeps_only_hashes(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    token = store.create_token("alice", "laptop")
    stored = every_stored_value(db_url)
    assert "alice-password" not in stored and token not in stored and token_hash(token) in stored
    again = store_at(db_url)
    assert again.authenticate("alice", "alice-password") == User("alice", "curator")
    assert again.user_for_token(token) == User("alice", "curator")
    assert again.user_for_token("serac_wrong") is None and again.user_for_token(None) is None


@pytest.mark.parametrize(
    "name,role,password",
    [
        ("", "curator", "longenough"),
        ("a b", "curator", "longenough"),
        ("bob", "admin", "longenough"),
        ("bob", "viewer", "short"),
    ],
)
def test_bad_users_are_rejected_and_nothing_is_written(db_url, name, role, password):
    store = store_at(db_url)
    with pytest.raises(InvalidInput):
        store.set_user(name, role, password)
    assert store.names() == [] and store.accounts.count() == 0


def test_token_for_unknown_user_is_refused(db_url):
    store = store_at(db_url)
    with pytest.raises(InvalidInput, match="no user named 'ghost'"):
        store.create_token("ghost")
    assert store.tokens() == []


def test_a_token_label_with_control_characters_is_refused(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    with pytest.raises(InvalidInput, match="label"):
        store.create_token("alice", "bad\x00label")
    assert store.tokens() == []


def test_a_revoked_token_is_refused_and_cannot_be_revoked_twice(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    keep, drop = store.create_token("alice", "keep"), store.create_token("alice", "drop")
    dropped = next(t for t in store.tokens("alice") if t.label == "drop")
    assert store.revoke_token(dropped.id).revoked_at is not None
    assert store.user_for_token(drop) is None and store.user_for_token(keep) == User("alice", "curator")
    assert [(t.label, t.active) for t in store.tokens()] == [("keep", True), ("drop", False)]
    with pytest.raises(StateConflict, match="already revoked"):
        store.revoke_token(dropped.id)
    with pytest.raises(InvalidInput, match="no API token with id 99"):
        store.revoke_token(99)


def test_a_role_change_counts_at_the_next_call(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    token = store.create_token("alice")
    store.set_role("alice", "viewer")
    assert store.user_for_token(token) == User("alice", "viewer") == store.get("alice")
    assert store.authenticate("alice", "alice-password") == User("alice", "viewer")
    with pytest.raises(InvalidInput, match="no user named 'ghost'"):
        store.set_role("ghost", "viewer")


def test_failed_logins_back_off_the_name_for_that_address_until_the_delay_passes(db_url):
    now = [0.0]
    store = store_at(db_url, LoginLimiter(clock=lambda: now[0]))
    store.set_user("alice", "viewer", "alice-password")
    for _ in range(NAME_FREE):
        assert store.authenticate("alice", "wrong", "10.0.0.1") is None
    with pytest.raises(LoginBackoff):  # backing off, even with the right password
        store.authenticate("alice", "alice-password", "10.0.0.1")
    assert store.authenticate("alice", "alice-password", "10.0.0.2") == User("alice", "viewer")  # another address
    assert store.authenticate("nobody", "x", "10.0.0.1") is None


def test_the_backoff_passes_and_a_success_resets_it(db_url):
    now = [0.0]
    store = store_at(db_url, LoginLimiter(clock=lambda: now[0]))
    store.set_user("alice", "viewer", "alice-password")
    for _ in range(NAME_FREE):
        store.authenticate("alice", "wrong", "10.0.0.1")
    now[0] += 1.0
    assert store.authenticate("alice", "alice-password", "10.0.0.1") == User("alice", "viewer")
    assert store.limiter.wait("alice", "10.0.0.1") == 0


def test_first_start_creates_one_admin_curator(db_url):
    store = store_at(db_url)
    password = ensure_first_user(store)
    assert password and store.authenticate("admin", password) == User("admin", "curator")
    assert ensure_first_user(store) is None and store.names() == ["admin"]


def test_serve_writes_the_first_password_to_an_owner_only_file(db_url, tmp_path):
    from cli.serve import first_start

    store = store_at(db_url)
    secret = first_start(store, tmp_path / "users.json")
    assert secret == tmp_path / "users.json.admin-password" and secret.stat().st_mode & 0o777 == 0o600
    assert store.authenticate("admin", secret.read_text().strip()) == User("admin", "curator")
    assert first_start(store, tmp_path / "users.json") is None


def test_only_curators_write():
    require_curator(User("alice", "curator"))
    with pytest.raises(Forbidden, match="curator"):
        require_curator(User("victor", "viewer"))


def run_app(db_url: str, *args: str, stdin: str | None = None, users: Path | None = None):
    extra = ["--users", str(users)] if users else []
    return subprocess.run(
        [sys.executable, str(APP), "--db", db_url, *extra, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_adds_users_and_creates_lists_and_revokes_tokens(db_url, tmp_path):
    added = run_app(db_url, "user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="bob-password\n")
    assert added.returncode == 0 and added.stdout.startswith("saved user bob (viewer) in the edit log"), added.stderr
    token = run_app(db_url, "token", "create", "bob", "--label", "ci")
    assert token.returncode == 0 and token.stdout.strip().startswith("serac_")
    store = store_at(db_url)  # a store opened after the CLI wrote: nothing is cached anywhere
    assert store.authenticate("bob", "bob-password") == User("bob", "viewer")
    assert store.user_for_token(token.stdout.strip()) == User("bob", "viewer")
    listed = run_app(db_url, "token", "list", "bob")
    assert listed.returncode == 0 and listed.stdout.split("\t")[:3] == ["1", "bob", "ci"]
    assert listed.stdout.rstrip().endswith("active") and token.stdout.strip() not in listed.stdout
    role = run_app(db_url, "user", "role", "bob", "--role", "curator")
    assert role.returncode == 0 and store.get("bob") == User("bob", "curator")
    assert run_app(db_url, "user", "list").stdout == "bob\tcurator\n"
    revoked = run_app(db_url, "token", "revoke", "1")
    assert revoked.returncode == 0 and "revoked API token 1 of bob" in revoked.stdout
    assert store.user_for_token(token.stdout.strip()) is None
    assert "\trevoked " in run_app(db_url, "token", "list").stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (("token", "create", "ghost"), "error: no user named 'ghost'"),
        (("token", "revoke", "7"), "error: no API token with id 7"),
        (("token", "revoke", "seven"), "error: token revoke needs a token id"),
        (("token", "create"), "error: token create needs a USER"),
        (("token", "list", "ghost"), "error: no user named 'ghost'"),
        (("user", "role", "ghost", "--role", "viewer"), "error: no user named 'ghost'"),
        (("user", "add"), "error: user add needs a NAME"),
    ],
)
def test_cli_account_mistakes_are_one_line_and_change_nothing(db_url, args, message):
    done = run_app(db_url, *args)
    assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    store = store_at(db_url)
    assert store.names() == [] and store.tokens() == []
