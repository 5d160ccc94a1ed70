"""Security checks of issue 6 on the running server (tests/live_server.py) and the source:
- the UI login is rate limited: after NAME_FREE wrong passwords a name backs off (429 with Retry-After) for the
  address that failed, even with the right password, while other users still log in;
- no secret reaches the server's log: passwords and tokens used against it (right and wrong) never appear;
- the audit log cannot be altered through the app: no API route deletes, replaces or touches audit rows, and no
  module of the app updates or deletes them (db/audit.py only inserts).
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.live_server import LOCKOUT, ROOT
from webapp.login_limit import NAME_FREE

pytestmark = pytest.mark.models


def login(live_server, name: str, password: str) -> httpx.Response:
    return httpx.post(live_server.url + "/login", data={"username": name, "password": password}, timeout=60)


def test_ui_login_backs_off_a_name_after_repeated_failures(live_server):
    for attempt in range(NAME_FREE):
        response = login(live_server, LOCKOUT[0], f"wrong-password-{attempt}")
        assert response.status_code == 400 and "Incorrect credentials" in response.text
    for attempt in range(12):  # until the delay left is long enough that the next request surely falls inside it
        response = login(live_server, LOCKOUT[0], f"wrong-password-again-{attempt}")
        if response.status_code == 429 and int(response.headers["retry-after"]) >= 3:
            break
        if response.status_code == 429:
            time.sleep(int(response.headers["retry-after"]))  # let the next wrong password count
    assert response.status_code == 429 and "too many failed logins; try again in" in response.json()["detail"]
    refused = login(live_server, LOCKOUT[0], LOCKOUT[1])  # backing off, though the password is right
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    ok = login(live_server, *live_server.viewer)
    assert ok.status_code == 200 and ok.json() == {"success": True} and any("access-token" in c for c in ok.cookies)


def test_no_password_or_token_reaches_the_server_log(live_server):
    secrets = [
        live_server.curator[1],
        live_server.viewer[1],
        LOCKOUT[1],
        live_server.curator_token,
        live_server.viewer_token,
        "guessed-password-9",
        "serac_guessed-token",
    ]
    login(live_server, live_server.curator[0], live_server.curator[1])
    login(live_server, live_server.curator[0], "guessed-password-9")
    for token in (live_server.curator_token, live_server.viewer_token, "serac_guessed-token"):
        httpx.get(live_server.url + "/api/edits", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        httpx.post(
            live_server.url + "/api/edits", headers={"Authorization": f"Bearer {token}"}, content=b"{bad", timeout=60
        )
    log = live_server.log_path.read_text(errors="replace")
    leaked = [s[:6] + "..." for s in secrets if s in log]
    assert not leaked, f"secrets in the server log: {leaked}"
    assert "serac_" not in log and live_server.alive()


def test_no_api_route_can_change_the_audit_log(live_server):
    paths = httpx.get(live_server.url + "/openapi.json", timeout=30).json()["paths"]
    methods = {(path, method.upper()) for path, ops in paths.items() for method in ops}
    assert not [p for p, _ in methods if "audit" in p]
    assert {m for _, m in methods} <= {"GET", "POST", "PATCH"}  # no DELETE or PUT anywhere
    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        response = httpx.request(method, live_server.url + "/api/audit/1", headers=headers, json={}, timeout=30)
        assert response.status_code == 404, (method, response.text)


AUDIT_WRITE = re.compile(
    r"audit_log\s*\.\s*(update|delete)\b"  # audit_log.update() / .delete()
    r"|\b(update|delete)\s*\(\s*(\w+\.)*audit_log\b"  # sa.update(audit_log), delete(models.audit_log)
    r"|\b(update|delete\s+from)\s+[\"`]?audit_log\b",
    re.IGNORECASE,
)  # raw SQL


@pytest.mark.parametrize(
    "code",
    [
        "audit_log.delete().where(x)",
        "sa.delete(audit_log)",
        "sa.update( db.models.audit_log)",
        "conn.execute(text('DELETE FROM audit_log'))",
        'UPDATE "audit_log" SET',
        "audit_log . update()",
    ],
)
def test_the_audit_write_pattern_catches_each_way_of_writing_it(code):
    assert AUDIT_WRITE.search(code)


def test_the_audit_write_pattern_passes_reads_and_inserts():
    for code in ("sa.select(audit_log)", "audit_log.insert()", "updated_audit_log_view", "audit_log.c.updated_at"):
        assert not AUDIT_WRITE.search(code), code


def test_no_module_updates_or_deletes_audit_rows():
    offenders = [
        str(path.relative_to(ROOT))
        for layer in ("core", "db", "services", "webapp", "cli")
        for path in (ROOT / layer).rglob("*.py")
        if AUDIT_WRITE.search(path.read_text())
    ]
    offenders += ["app.py"] if AUDIT_WRITE.search((ROOT / "app.py").read_text()) else []
    assert offenders == []
    inserts = [
        str(path.relative_to(ROOT))
        for layer in ("db", "services", "webapp", "cli")
        for path in (ROOT / layer).rglob("*.py")
        if re.search(r"audit_log\s*\.\s*insert\b", path.read_text())
    ]
    assert inserts == ["db/audit.py"]
