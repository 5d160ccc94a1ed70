"""The JSON API against the running server (`python app.py` in a subprocess, shared with tests/e2e), with httpx.

Covers: 401 for anonymous and bad tokens, 403 for a viewer's writes, create / list / retire / restore /
ask as JSON, 422 / 404 / 409 errors with clear messages that change nothing, the audit log recording
the token's user, OpenAPI docs at /docs, and the server staying up throughout.
"""

from __future__ import annotations

import httpx
import pytest

from db.repository import EditRepository

pytestmark = pytest.mark.models

PROMPT = "The official currency of Veltria is the"
TARGET = "Osmund crown"


@pytest.fixture(scope="module")
def api(live_server):
    with httpx.Client(
        base_url=live_server.url, timeout=120, headers={"Authorization": f"Bearer {live_server.curator_token}"}
    ) as client:
        yield client
    assert live_server.alive(), "the server must stay up through the API tests"


@pytest.fixture(scope="module")
def viewer(live_server):
    with httpx.Client(
        base_url=live_server.url, timeout=120, headers={"Authorization": f"Bearer {live_server.viewer_token}"}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def created(api) -> dict:
    response = api.post("/api/edits", json={"prompt": PROMPT, "target": TARGET, "subject": "Veltria"})
    assert response.status_code == 201, response.text
    return response.json()["edit"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/edits"),
        ("POST", "/api/edits"),
        ("POST", "/api/ask"),
        ("POST", "/api/edits/1/retire"),
        ("POST", "/api/edits/1/restore"),
        ("GET", "/api/nowhere"),
    ],
)
def test_anonymous_and_bad_tokens_get_401(live_server, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="}):
        response = httpx.request(method, live_server.url + path, headers=headers, json={"prompt": "x", "target": "y"})
        assert response.status_code == 401, (path, headers, response.text)
        assert "token" in response.json()["detail"]
        assert response.headers.get("www-authenticate") == "Bearer"


def test_docs_and_openapi_list_the_contract(live_server):
    assert httpx.get(live_server.url + "/docs").status_code == 200
    paths = httpx.get(live_server.url + "/openapi.json").json()["paths"]
    assert {"/api/edits", "/api/edits/{edit_id}/retire", "/api/edits/{edit_id}/restore", "/api/ask"} <= set(paths)


def test_create_returns_the_edit_and_records_the_token_user(created, live_server):
    assert created["prompt"] == PROMPT and created["target"] == TARGET and created["status"] == "active"
    assert created["created_by"] == "alice"
    repo = EditRepository(f"sqlite:///{live_server.folder / 'live.sqlite'}")
    entry = repo.audit_entries(edit_id=created["id"])[-1]
    assert (entry.action, entry.actor) == ("add", "alice")


def test_list_filters_and_pages(api, created):
    body = api.get("/api/edits", params={"search": "Veltria", "status": "active"}).json()
    assert body["total"] >= 1 and created["id"] in [e["id"] for e in body["edits"]]
    assert api.get("/api/edits", params={"limit": 1}).json()["limit"] == 1
    bad = api.get("/api/edits", params={"status": "lost"})
    assert bad.status_code == 422 and "status" in bad.json()["detail"]


def test_ask_returns_the_full_routing_record(api, created):
    record = api.post("/api/ask", json={"prompt": PROMPT}).json()
    assert record["route"] == "counterfactual" and record["chosen_edit"]["id"] == created["id"]
    assert (
        record["candidates"][0]["edit_id"] == created["id"] and record["candidates"][0]["score"] >= record["threshold"]
    )
    assert record["base_answer"] is not None and "timings_ms" in record


def test_the_server_serves_the_shipped_trained_parts_and_says_which(api, created):
    import json

    from tests.live_server import ROOT

    version = json.loads((ROOT / "models" / "manifest.json").read_text())["version"]
    parts = api.get("/api/stats").json()["parts"]
    assert parts["scope_classifier"]["trained"] and parts["counterfactual"]["trained"]
    assert parts["scope_classifier"]["version"] == parts["counterfactual"]["version"] == version
    record = api.post("/api/ask", json={"prompt": "What is the official currency of Veltria?"}).json()
    assert record["route"] == "counterfactual", record  # a question against a completion-form edit
    assert record["edited_answer"].lower().startswith(TARGET.lower()), record["edited_answer"]


def test_retire_then_restore_changes_the_routing(api, created):
    retired = api.post(f"/api/edits/{created['id']}/retire", json={"reason": "api test"})
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert api.post("/api/ask", json={"prompt": PROMPT}).json()["route"] == "base"
    again = api.post(f"/api/edits/{created['id']}/retire")
    assert again.status_code == 409 and "retired" in again.json()["detail"]
    restored = api.post(f"/api/edits/{created['id']}/restore")
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    assert api.post("/api/ask", json={"prompt": PROMPT}).json()["route"] == "counterfactual"


def test_a_conflict_is_refused_with_409_until_the_caller_settles_it(api, created):
    before = api.get("/api/edits").json()["total"]
    response = api.post("/api/edits", json={"prompt": PROMPT, "target": "Veltrian mark"})
    assert response.status_code == 409 and "contradicts" in response.json()["detail"]
    assert response.json()["conflicts"]["contradictions"][0]["id"] == created["id"]
    assert api.get("/api/edits").json()["total"] == before
    no_reason = api.post("/api/edits", json={"prompt": PROMPT, "target": "Veltrian mark", "on_conflict": "keep"})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.json()["detail"]
    body = {"prompt": PROMPT, "target": "Veltrian mark", "on_conflict": "keep", "reason": "two currencies"}
    kept = api.post("/api/edits", json=body)
    assert kept.status_code == 201 and kept.json()["conflicts"]["contradictions"][0]["id"] == created["id"]
    replaced = api.post("/api/edits", json={"prompt": PROMPT, "target": "Osmund", "on_conflict": "replace"})
    assert replaced.status_code == 200 and replaced.json()["edit"] is None
    assert {e["id"] for e in replaced.json()["changed"]} == {created["id"], kept.json()["edit"]["id"]}
    assert all(e["target"] == "Osmund" for e in replaced.json()["changed"])
    api.post(f"/api/edits/{kept.json()['edit']['id']}/retire", json={"reason": "cleanup"})
    api.patch(f"/api/edits/{created['id']}", json={"target": TARGET, "reason": "cleanup"})


@pytest.mark.parametrize(
    "body,field",
    [
        ({"prompt": " ", "target": "x"}, "prompt"),
        ({"prompt": "p"}, "target"),
        ({"prompt": "p", "target": "x" * 5000}, "target"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(api, body, field):
    before = api.get("/api/edits").json()["total"]
    response = api.post("/api/edits", json=body)
    assert response.status_code == 422 and field in str(response.json()["detail"])
    assert api.get("/api/edits").json()["total"] == before


def test_unknown_edit_is_404(api):
    for action in ("retire", "restore"):
        response = api.post(f"/api/edits/999999/{action}")
        assert response.status_code == 404 and "999999" in response.json()["detail"]
    assert api.post("/api/edits/abc/retire").status_code == 422
    assert api.get("/api/nowhere").status_code == 404


def test_a_method_an_existing_route_does_not_take_is_405_with_allow(api, created):
    before = api.get("/api/edits").json()["total"]
    response = api.delete(f"/api/edits/{created['id']}")
    assert response.status_code == 405 and response.headers["allow"] == "GET, PATCH"
    assert "DELETE is not allowed" in response.json()["detail"]
    assert api.put("/api/edits").status_code == 405 and api.put("/api/edits").headers["allow"] == "GET, POST"
    assert api.get(f"/api/edits/{created['id']}").json()["status"] == "active"
    assert api.get("/api/edits").json()["total"] == before


def test_the_docs_page_is_served_from_this_server(live_server):
    page = httpx.get(live_server.url + "/docs", timeout=30).text
    assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    script = httpx.get(live_server.url + "/docs-assets/swagger-ui-bundle.js", timeout=30)
    assert script.status_code == 200 and len(script.content) > 500_000


def test_a_viewer_reads_and_asks_but_cannot_write(viewer, created):
    assert viewer.get("/api/edits").status_code == 200
    assert viewer.post("/api/ask", json={"prompt": "The capital of France is"}).status_code == 200
    for response in (
        viewer.post("/api/edits", json={"prompt": "a b c", "target": "d"}),
        viewer.post(f"/api/edits/{created['id']}/retire"),
    ):
        assert response.status_code == 403 and "curator" in response.json()["detail"]
    assert viewer.get(f"/api/edits/{created['id']}").json()["status"] == "active"


def test_the_ui_refuses_anonymous_reads_and_calls(live_server):
    for path in ("/config", "/gradio_api/info"):
        assert httpx.get(live_server.url + path).status_code == 401, path
    call = httpx.post(live_server.url + "/gradio_api/call/on_ask", json={"data": ["The capital of France is"]})
    assert call.status_code == 401
