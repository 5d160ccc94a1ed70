"""Users, password and token hashing, roles and the failed-login limit (webapp/auth.py), on real temp files."""

import json
import time

import pytest

from core.errors import InvalidInput
from webapp.auth import (
    Forbidden,
    LoginLimiter,
    User,
    UserStore,
    ensure_first_user,
    hash_password,
    require_curator,
    token_hash,
    verify_password,
)


def test_password_hash_is_salted_and_verifies():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$") and "correct horse" not in a
    assert verify_password("correct horse", a) and not verify_password("correct hors", a)
    assert not verify_password("x", "garbage") and not verify_password("x", "bcrypt$1$2$3$aa$bb")


def test_users_file_keeps_only_hashes(tmp_path):
    store = UserStore(tmp_path / "users.json")
    store.set_user("alice", "curator", "alice-password")
    token = store.create_token("alice")
    text = (tmp_path / "users.json").read_text()
    assert "alice-password" not in text and token not in text and token_hash(token) in text
    again = UserStore(tmp_path / "users.json")
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
def test_bad_users_are_rejected_and_nothing_is_written(tmp_path, name, role, password):
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(InvalidInput):
        store.set_user(name, role, password)
    assert not (tmp_path / "users.json").exists()


def test_token_for_unknown_user_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="no user"):
        UserStore(tmp_path / "users.json").create_token("ghost")


def test_a_broken_users_file_is_a_clear_error(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"alice": {"role": "root", "password": "x"}}}))
    with pytest.raises(InvalidInput, match="alice"):
        UserStore(path)
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read"):
        UserStore(path)


def test_failed_logins_lock_the_name_for_the_window(tmp_path):
    store = UserStore(tmp_path / "users.json", LoginLimiter(max_failures=3, window_s=60))
    store.set_user("alice", "viewer", "alice-password")
    for _ in range(3):
        assert store.authenticate("alice", "wrong") is None
    assert store.authenticate("alice", "alice-password") is None  # locked, even with the right password
    assert store.authenticate("nobody", "x") is None


def test_lock_expires_after_the_window(tmp_path):
    store = UserStore(tmp_path / "users.json", LoginLimiter(max_failures=2, window_s=0.05))
    store.set_user("alice", "viewer", "alice-password")
    store.authenticate("alice", "wrong"), store.authenticate("alice", "wrong")
    time.sleep(0.1)
    assert store.authenticate("alice", "alice-password") == User("alice", "viewer")


def test_first_start_creates_one_admin_curator(tmp_path):
    store = UserStore(tmp_path / "users.json")
    password = ensure_first_user(store)
    assert password and store.authenticate("admin", password) == User("admin", "curator")
    assert ensure_first_user(store) is None


def test_serve_writes_the_first_password_to_an_owner_only_file(tmp_path):
    from cli.serve import first_start

    store = UserStore(tmp_path / "users.json")
    secret = first_start(store, tmp_path / "users.json")
    assert secret == tmp_path / "users.json.admin-password" and secret.stat().st_mode & 0o777 == 0o600
    assert store.authenticate("admin", secret.read_text().strip()) == User("admin", "curator")
    assert first_start(store, tmp_path / "users.json") is None


def test_only_curators_write():
    require_curator(User("alice", "curator"))
    with pytest.raises(Forbidden, match="curator"):
        require_curator(User("victor", "viewer"))


def test_cli_adds_users_and_creates_tokens(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    app = Path(__file__).resolve().parent.parent / "app.py"
    users = tmp_path / "users.json"

    def run(*args, stdin=None):
        return subprocess.run(
            [sys.executable, str(app), "--users", str(users), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = run("user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="bob-password\n")
    assert added.returncode == 0, added.stderr
    token = run("token", "create", "bob")
    assert token.returncode == 0 and token.stdout.strip().startswith("serac_")
    store = UserStore(users)
    assert store.authenticate("bob", "bob-password") == User("bob", "viewer")
    assert store.user_for_token(token.stdout.strip()) == User("bob", "viewer")
    missing = run("token", "create", "ghost")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no user named 'ghost'")
