"""Logins, sessions and unexpected errors on running servers (`python app.py` in a subprocess, tests/live_server.py),
issue 16: a curator gets in while another address hammers `admin`; X-Forwarded-For counts only from a trusted
proxy; a removed user's UI session ends at its next request and a session ends after its lifetime; an unexpected
error (a table renamed behind the app's back) reaches /api, /v1 and the UI as one line with an id, the traceback
only in the server log.

Two servers of their own (the shared one must keep its tables and its 127.0.0.1 free of backoff): one behind a
"proxy" (`--trusted-proxy 127.0.0.1`, so each test client names its address in X-Forwarded-For), one without a
trusted proxy and with a UI session lifetime of 3.6 s.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import launch
from tests.test_webapp_auth import run_app
from webapp.login_limit import ADDRESS_FREE

# Two servers of their own cost about 90 s: -m slow. The default run covers the same rules on the parts
# (tests/test_login_limit.py, test_sessions.py, test_client_address.py, test_failures.py).
pytestmark = [pytest.mark.models, pytest.mark.slow]

ADMIN = ("admin", "admin-password-1")
GONE = ("gone", "gone-password-1")  # a viewer the removal test removes
LINE = re.compile(r"internal error, id ([0-9a-f]{8}); the server log has the detail")
SESSION_S = 3.6  # --session-hours 0.001 on the second server


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxied")
    users = [(ADMIN[0], "curator", ADMIN[1]), (GONE[0], "viewer", GONE[1])]
    with launch(folder, users, extra_args=["--trusted-proxy", "127.0.0.1"]) as server:
        yield server


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory):
    with launch(tmp_path_factory.mktemp("short"), extra_args=["--session-hours", "0.001"]) as server:
        yield server


def login(server, name: str, password: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.post(server.url + "/login", data={"username": name, "password": password}, headers=headers, timeout=60)


def signed_in(server, cookies) -> int:
    """The status of Gradio's own login check for these cookies (200 signed in, 401 not)."""
    return httpx.get(server.url + "/gradio_api/login_check", cookies=cookies, timeout=30).status_code


def back_off(server, name: str, address: str | None, attempts: int = 16) -> httpx.Response:
    """Wrong passwords from `address` until one is refused with at least 3 s left (the next request then
    surely falls inside the backoff); that refusal."""
    for attempt in range(attempts):
        response = login(server, name, f"wrong-password-{attempt}", address)
        assert response.status_code in (400, 429), response.text
        if response.status_code == 429 and int(response.headers["retry-after"]) >= 3:
            return response
        if response.status_code == 429:
            time.sleep(int(response.headers["retry-after"]))  # let the next wrong password count
    raise AssertionError(f"no backoff after {attempts} wrong passwords")


def test_a_curator_gets_in_while_another_address_hammers_admin(proxied):
    attacker, curator = "203.0.113.66", "198.51.100.7"
    refused = back_off(proxied, ADMIN[0], attacker)
    assert "too many failed logins; try again in" in refused.json()["detail"]
    stop, seen = threading.Event(), []

    def hammer():
        while not stop.is_set():
            seen.append(login(proxied, ADMIN[0], "guess-again", attacker).status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.5)
        ok = login(proxied, *ADMIN, curator)  # the first try, while the hammering goes on
        assert ok.status_code == 200 and ok.json() == {"success": True}, ok.text
        assert signed_in(proxied, ok.cookies) == 200
    finally:
        stop.set()
        thread.join(timeout=60)
    assert 429 in seen  # the hammering went on meanwhile, refused without password work


def test_a_removed_users_ui_session_ends_at_its_next_request(proxied):
    ok = login(proxied, *GONE, "198.51.100.20")
    assert ok.status_code == 200 and signed_in(proxied, ok.cookies) == 200
    token = proxied.tokens[GONE[0]]
    removed = run_app(proxied.db_url, "user", "remove", GONE[0])
    assert removed.returncode == 0 and "removed user gone and 1 API tokens" in removed.stdout, removed.stderr
    assert signed_in(proxied, ok.cookies) == 401  # no restart: the next request is refused
    config = httpx.get(proxied.url + "/config", cookies=ok.cookies, timeout=30)
    assert config.status_code == 401
    me = httpx.get(proxied.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 401
    assert login(proxied, *GONE, "198.51.100.20").status_code == 400


def hide_audit_log(db_url: str, back: bool = False) -> None:
    """Rename the audit table behind the running app's back (and back again)."""
    path = db_url.removeprefix("sqlite:///")
    names = ("audit_hidden", "audit_log") if back else ("audit_log", "audit_hidden")
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute(f"ALTER TABLE {names[0]} RENAME TO {names[1]}")


def assert_logged_with_traceback(server, error_id: str) -> None:
    log = server.log_path.read_text(errors="replace")
    at = log.index(f"internal error, id {error_id}")
    assert "Traceback" in log[at:] and "no such table: audit_log" in log[at:]


def test_an_unexpected_error_reaches_api_and_v1_clients_as_one_line_with_an_id(proxied):
    headers = {"Authorization": f"Bearer {proxied.curator_token}"}
    assert httpx.get(proxied.url + "/api/stats", headers=headers, timeout=30).status_code == 200
    hide_audit_log(proxied.db_url)
    try:
        failed = httpx.get(proxied.url + "/api/stats", headers=headers, timeout=30)
        assert failed.status_code == 500 and list(failed.json()) == ["detail"]
        found = LINE.fullmatch(failed.json()["detail"])
        assert found and "audit" not in failed.text and "SELECT" not in failed.text
        assert_logged_with_traceback(proxied, found.group(1))
        time.sleep(0.6)  # past sync_interval_ms: the next ask reads the change feed, which is gone
        body = {"model": "serac", "prompt": "The capital of France is", "max_tokens": 2}
        v1 = httpx.post(proxied.url + "/v1/completions", headers=headers, json=body, timeout=120)
        assert v1.status_code == 500, v1.text
        error = v1.json()["error"]
        found = LINE.fullmatch(error["message"])
        assert found and error["type"] == "server_error" and "audit" not in v1.text
        assert_logged_with_traceback(proxied, found.group(1))
    finally:
        hide_audit_log(proxied.db_url, back=True)
    assert httpx.get(proxied.url + "/api/stats", headers=headers, timeout=30).status_code == 200
    assert proxied.alive()


@pytest.mark.browser
def test_an_unexpected_error_in_the_ui_shows_one_line_with_an_id(proxied):
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARGS, CHROMIUM, SHOTS, expect, open_tab

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(proxied.url + "/")
        page.get_by_label("username").fill(proxied.curator[0])
        page.get_by_label("password").fill(proxied.curator[1])
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#signed-in")).to_contain_text("Signed in as alice (curator", timeout=60_000)
        open_tab(page, "Audit")
        hide_audit_log(proxied.db_url)
        try:
            page.locator("#audit-button").click()
            shown = page.get_by_text(LINE)
            expect(shown.first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(Path(SHOTS) / "internal-error-1400x900.png"))
            text = page.locator("body").inner_text()
            found = LINE.search(text)
            assert found and "no such table" not in text and "SELECT" not in text
            assert_logged_with_traceback(proxied, found.group(1))
        finally:
            hide_audit_log(proxied.db_url, back=True)
            browser.close()


def test_a_ui_session_ends_after_its_lifetime(short_sessions):
    ok = login(short_sessions, *short_sessions.curator)
    started = time.monotonic()
    assert ok.status_code == 200 and signed_in(short_sessions, ok.cookies) == 200
    time.sleep(max(0.0, SESSION_S + 0.5 - (time.monotonic() - started)))
    assert signed_in(short_sessions, ok.cookies) == 401
    again = login(short_sessions, *short_sessions.curator)
    assert again.status_code == 200 and signed_in(short_sessions, again.cookies) == 200


def test_forwarded_for_is_ignored_without_a_trusted_proxy(short_sessions):
    """Each attempt claims another address and another name; the server still counts them all against the
    connection's own address (127.0.0.1) and backs it off. Runs last on this server: it leaves 127.0.0.1 backing
    off."""
    statuses = []
    for attempt in range(20):
        address = f"192.0.2.{attempt + 1}"
        response = login(short_sessions, f"someone{attempt}", "wrong-password", address)
        statuses.append(response.status_code)
        if response.status_code == 429 and int(response.headers["retry-after"]) >= 3:
            break
        if response.status_code == 429:
            time.sleep(int(response.headers["retry-after"]))  # let the next wrong password count
    assert statuses[:ADDRESS_FREE] == [400] * ADDRESS_FREE and statuses[-1] == 429, statuses
    assert login(short_sessions, *short_sessions.curator, "192.0.2.200").status_code == 429
