"""Accounts changed by the CLI count on the running server at once, without a restart (issue 13): the live server
(tests/live_server.py, `python app.py` in a subprocess) and `python app.py --db <its edit log> user|token ...` in
other subprocesses share one database, and the server reads users and tokens from it on every request."""

from __future__ import annotations

import httpx
import pytest

from db.repository import MAX_EDIT_ID
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
