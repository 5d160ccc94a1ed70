"""Bad input through the JSON API of the running server (tests/live_server.py), table-driven: each case gets its
HTTP status and a one-line `detail`, the edits, audit and settings tables are exactly as before, and the server
still answers afterwards. Never a 5xx.
"""

from __future__ import annotations

import httpx
import pytest

from tests.test_bad_input import fingerprint

pytestmark = pytest.mark.models

PROMPT, TARGET = "The tallest tower of Brindlemoor is", "the Ashspire"
RETIRED = ("The river that runs through Brindlemoor is the", "Silverrun")
CURATOR, VIEWER, NOBODY, BAD = "curator", "viewer", "nobody", "bad"


@pytest.fixture(scope="module")
def edits(live_server) -> dict[str, int]:
    """One active and one retired edit to aim the cases at."""
    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=120) as http:
        active = http.post("/api/edits", json={"prompt": PROMPT, "target": TARGET}).json()["edit"]["id"]
        retired = http.post("/api/edits", json={"prompt": RETIRED[0], "target": RETIRED[1]}).json()["edit"]["id"]
        assert http.post(f"/api/edits/{retired}/retire").status_code == 200
    return {"active": active, "retired": retired}


def raw(data: bytes) -> dict:
    return {"content": data, "headers": {"content-type": "application/json"}}


P = {"prompt": PROMPT + " now", "target": "x"}  # a valid body to spoil one field at a time
CASES = [
    # (id, who, method, path, request kwargs, status, detail fragment)
    ("empty prompt", CURATOR, "POST", "/api/edits", {"json": {**P, "prompt": ""}}, 422, "prompt must not be empty"),
    (
        "whitespace prompt",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {**P, "prompt": " \t\n"}},
        422,
        "prompt must not be empty",
    ),
    ("empty target", CURATOR, "POST", "/api/edits", {"json": {**P, "target": ""}}, 422, "target must not be empty"),
    ("over-size prompt", CURATOR, "POST", "/api/edits", {"json": {**P, "prompt": "p" * 5000}}, 422, "limit is 4096"),
    (
        "control character",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {**P, "prompt": "ring\u0007bell"}},
        422,
        "control characters",
    ),
    ("NUL in target", CURATOR, "POST", "/api/edits", {"json": {**P, "target": "a\u0000b"}}, 422, "control characters"),
    (
        "control in notes",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {**P, "notes": "a\u001bb"}},
        422,
        "notes contains control",
    ),
    (
        "lone surrogate",
        CURATOR,
        "POST",
        "/api/edits",
        raw(b'{"prompt": "caf\\udce9", "target": "x"}'),
        422,
        "not valid UTF-8",
    ),
    (
        "invalid UTF-8 bytes",
        CURATOR,
        "POST",
        "/api/edits",
        raw(b'{"prompt": "caf\xe9 is", "target": "x"}'),
        422,
        "not valid UTF-8",
    ),
    ("malformed JSON", CURATOR, "POST", "/api/edits", raw(b'{"prompt": "a", "target": '), 422, "not valid JSON"),
    ("JSON list body", CURATOR, "POST", "/api/edits", {"json": [PROMPT, TARGET]}, 422, "valid dictionary"),
    ("missing target", CURATOR, "POST", "/api/edits", {"json": {"prompt": PROMPT}}, 422, "target: Field required"),
    (
        "number as prompt",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {**P, "prompt": 42}},
        422,
        "prompt: Input should be a valid string",
    ),
    (
        "oversized body",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {**P, "prompt": "p" * (2 << 20)}},
        413,
        "larger than the limit",
    ),
    (
        "contradiction",
        CURATOR,
        "POST",
        "/api/edits",
        {"json": {"prompt": PROMPT, "target": "the Old Keep"}},
        409,
        "contradicts",
    ),
    ("unknown id retire", CURATOR, "POST", "/api/edits/999999/retire", {}, 404, "no edit with id 999999"),
    ("unknown id restore", CURATOR, "POST", "/api/edits/999999/restore", {}, 404, "no edit with id 999999"),
    ("non-numeric id", CURATOR, "POST", "/api/edits/abc/retire", {}, 422, "edit_id"),
    ("huge id", CURATOR, "POST", "/api/edits/99999999999999999999/retire", {}, 422, "edit_id"),
    ("negative id", CURATOR, "GET", "/api/edits/-1", {}, 422, "edit_id"),
    ("huge offset", CURATOR, "GET", "/api/edits", {"params": {"offset": "99999999999999999999"}}, 422, "offset"),
    ("double retire", CURATOR, "POST", "/api/edits/{retired}/retire", {}, 409, "is retired; cannot retire"),
    ("restore an active edit", CURATOR, "POST", "/api/edits/{active}/restore", {}, 409, "is active; cannot restore"),
    (
        "over-size reason",
        CURATOR,
        "POST",
        "/api/edits/{active}/retire",
        {"json": {"reason": "r" * 5000}},
        422,
        "reason is 5000",
    ),
    (
        "change to empty target",
        CURATOR,
        "PATCH",
        "/api/edits/{active}",
        {"json": {"target": " "}},
        422,
        "target must not be empty",
    ),
    (
        "change to the same target",
        CURATOR,
        "PATCH",
        "/api/edits/{active}",
        {"json": {"target": TARGET}},
        409,
        "already has",
    ),
    (
        "change unknown edit",
        CURATOR,
        "PATCH",
        "/api/edits/999999",
        {"json": {"target": "x"}},
        404,
        "no edit with id 999999",
    ),
    ("ask empty prompt", CURATOR, "POST", "/api/ask", {"json": {"prompt": ""}}, 422, "prompt must not be empty"),
    ("ask over-size prompt", CURATOR, "POST", "/api/ask", {"json": {"prompt": "q" * 5000}}, 422, "limit is 4096"),
    ("ask control character", CURATOR, "POST", "/api/ask", {"json": {"prompt": "a\u0007b"}}, 422, "control characters"),
    ("list bad status", CURATOR, "GET", "/api/edits", {"params": {"status": "lost"}}, 422, "status must be"),
    ("list non-numeric limit", CURATOR, "GET", "/api/edits", {"params": {"limit": "ten"}}, 422, "limit"),
    ("unknown route", CURATOR, "GET", "/api/audit", {}, 404, "no API route"),
    ("delete an edit", CURATOR, "DELETE", "/api/edits/{active}", {}, 405, "DELETE is not allowed"),
    ("delete the audit log", CURATOR, "DELETE", "/api/audit/1", {}, 404, "no API route"),
    ("viewer adds", VIEWER, "POST", "/api/edits", {"json": P}, 403, "only curators"),
    ("viewer retires", VIEWER, "POST", "/api/edits/{active}/retire", {}, 403, "only curators"),
    ("viewer changes", VIEWER, "PATCH", "/api/edits/{active}", {"json": {"target": "x"}}, 403, "only curators"),
    ("no token", NOBODY, "POST", "/api/edits", {"json": P}, 401, "token"),
    ("bad token", BAD, "POST", "/api/edits", {"json": P}, 401, "token"),
    ("no token, malformed JSON", NOBODY, "POST", "/api/edits", raw(b"{nope"), 401, "token"),
    ("no token, stats", NOBODY, "GET", "/api/stats", {}, 401, "token"),
]


def _headers(live_server, who: str) -> dict:
    token = {CURATOR: live_server.curator_token, VIEWER: live_server.viewer_token, BAD: "serac_not-a-token"}.get(who)
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.mark.parametrize("name,who,method,path,kwargs,status,detail", CASES, ids=[c[0] for c in CASES])
def test_api_rejects_bad_input_and_changes_nothing(live_server, edits, name, who, method, path, kwargs, status, detail):
    before = fingerprint(live_server.db_url)
    kwargs = dict(kwargs, headers={**kwargs.get("headers", {}), **_headers(live_server, who)})
    response = httpx.request(method, live_server.url + path.format(**edits), timeout=120, **kwargs)
    assert response.status_code == status, response.text
    message = response.json()["detail"]
    assert isinstance(message, str) and "\n" not in message and detail in message, message
    assert fingerprint(live_server.db_url) == before
    me = httpx.get(live_server.url + "/api/me", headers=_headers(live_server, CURATOR), timeout=30)
    assert me.status_code == 200 and live_server.alive()


def test_the_table_is_large_and_the_index_still_matches_the_log(live_server, edits):
    assert len(CASES) >= 30
    stats = httpx.get(live_server.url + "/api/stats", headers=_headers(live_server, CURATOR), timeout=60).json()
    assert stats["index"]["consistent"] and stats["index"]["size"] == stats["edits"]["active"]


def test_an_oversized_chunked_body_is_refused_while_streaming(live_server):
    before = fingerprint(live_server.db_url)
    chunks = (b'{"prompt": "' if i == 0 else b"p" * 65536 for i in range(40))  # 2.5 MiB, no content-length
    response = httpx.post(
        live_server.url + "/api/edits",
        content=chunks,
        timeout=120,
        headers={**_headers(live_server, CURATOR), "content-type": "application/json"},
    )
    assert response.status_code == 413 and "larger than the limit" in response.json()["detail"]
    assert fingerprint(live_server.db_url) == before and live_server.alive()
