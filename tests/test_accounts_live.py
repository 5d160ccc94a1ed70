"""Accounts changed by the CLI count on the running server at once, without a restart (issue 13): the live server
(tests/live_server.py, `python app.py` in a subprocess) and `python app.py --db <its edit log> user|token ...` in
other subprocesses share one database, and the server reads users and tokens from it on every request. A server
started on an empty edit log imports a legacy users file once, or else creates the first curator 'admin'."""

from __future__ import annotations

import httpx
import pytest

from db.repository import MAX_EDIT_ID
from tests.live_server import start_app
from tests.test_accounts import legacy_file, legacy_users
from tests.test_webapp_auth import run_app

pytestmark = pytest.mark.models


def me(live_server, token: str) -> httpx.Response:
    return httpx.get(live_server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def retire_nothing(live_server, token: str) -> httpx.Response:
    """A curator-only call that changes nothing: retire an edit id that cannot exist (404 for a curator)."""
    url = f"{live_server.url}/api/edits/{MAX_EDIT_ID}/retire"
    return httpx.post(url, headers={"Authorization": f"Bearer {token}"}, json={}, timeout=60)


def cli(live_server, *args: str, stdin: str | None = None) -> str:
    done = run_app(live_server.db_url, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_token_created_by_the_cli_works_on_the_running_server_at_once(live_server):
    token = cli(live_server, "token", "create", live_server.viewer[0], "--label", "made while serving")
    assert token.startswith("serac_")
    response = me(live_server, token)
    assert response.status_code == 200 and response.json() == {"name": live_server.viewer[0], "role": "viewer"}


def test_a_user_added_by_the_cli_logs_in_and_a_role_change_and_revoke_count_at_once(live_server):
    cli(live_server, "user", "add", "carol", "--role", "viewer", "--password-stdin", stdin="carol-password-1\n")
    login = httpx.post(live_server.url + "/login", data={"username": "carol", "password": "carol-password-1"})
    assert login.status_code == 200 and login.json() == {"success": True}
    token = cli(live_server, "token", "create", "carol")
    refused = retire_nothing(live_server, token)
    assert refused.status_code == 403 and "carol" in refused.json()["detail"]

    cli(live_server, "user", "role", "carol", "--role", "curator")
    assert me(live_server, token).json() == {"name": "carol", "role": "curator"}
    missing = retire_nothing(live_server, token)
    assert missing.status_code == 404, missing.text  # a curator gets as far as looking the edit up

    token_id = next(line.split("\t")[0] for line in cli(live_server, "token", "list", "carol").splitlines())
    cli(live_server, "token", "revoke", token_id)
    gone = me(live_server, token)
    assert gone.status_code == 401 and "valid API token" in gone.json()["detail"]
    assert live_server.alive()


@pytest.mark.slow  # a fresh server start each (tests/test_accounts.py covers the same rules without one)
def test_a_server_on_an_empty_log_imports_the_legacy_users_file_and_says_so(tmp_path):
    users, token = legacy_users()
    path = legacy_file(tmp_path, users)
    with start_app(tmp_path, f"sqlite:///{tmp_path / 'edits.sqlite'}", path) as (url, _):
        response = httpx.get(url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert response.status_code == 200 and response.json() == {"name": "alice", "role": "curator"}
        login = httpx.post(url + "/login", data={"username": "victor", "password": "victor-password"}, timeout=60)
        assert login.status_code == 200 and login.json() == {"success": True}
    log = (tmp_path / "server.log").read_text()
    assert f"imported 2 users and their API tokens from {path}" in log and "first start" not in log
    assert not (tmp_path / "users.json.admin-password").exists()


@pytest.mark.slow  # a fresh server start each (tests/test_accounts.py covers the same rules without one)
def test_a_server_on_an_empty_log_creates_admin_once_with_an_owner_only_password_file(tmp_path):
    db_url, users_file = f"sqlite:///{tmp_path / 'edits.sqlite'}", tmp_path / "users.json"
    with start_app(tmp_path, db_url, users_file) as (url, _):
        secret = tmp_path / "users.json.admin-password"
        password = secret.read_text().strip()
        assert secret.stat().st_mode & 0o777 == 0o600 and not users_file.exists()
        login = httpx.post(url + "/login", data={"username": "admin", "password": password}, timeout=60)
        assert login.status_code == 200 and login.json() == {"success": True}
    log = (tmp_path / "server.log").read_text()
    assert "first start: created curator 'admin' in the edit log" in log and password not in log
    assert run_app(db_url, "user", "list").stdout == "admin\tcurator\n"
