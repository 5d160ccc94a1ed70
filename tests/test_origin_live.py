"""Same-origin policy (webapp/origin.py) on the running server (tests/live_server.py), with httpx: a request that a
page on another site would send (a foreign `Origin`) is refused with 403 on the API, Gradio's login and its
queue/join route, and a CORS preflight, and no response names a foreign origin in Access-Control-Allow-Origin;
the same request from the server's own origin, or with no Origin (curl, the CLI), is served; Gradio's login
cookie is SameSite=Lax. The browser tests (tests/e2e) show the UI still works from its own origin.
Also the middleware on a small real FastAPI app: a configured --allowed-origin gets CORS with credentials."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.config import SeracConfig, parse_origin
from core.errors import ConfigError
from webapp.server import _same_origin

FOREIGN = "https://evil.example"


def _own(live_server) -> str:
    return live_server.url  # http://127.0.0.1:PORT


def _refused(response: httpx.Response, origin: str = FOREIGN) -> None:
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert detail.startswith("cross-origin request refused") and repr(origin) in detail
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.models
def test_an_api_write_from_another_site_is_refused_and_saves_nothing(live_server):
    auth = {"Authorization": f"Bearer {live_server.curator_token}"}
    url = live_server.url + "/api/edits"
    before = httpx.get(url, headers=auth, timeout=60).json()["total"]
    body = {"prompt": "The capital of Cross-Site Land is", "target": "Forgery"}
    for origin in (FOREIGN, "null", "http://127.0.0.1:1", _own(live_server).replace("http:", "https:")):
        _refused(httpx.post(url, headers=auth | {"Origin": origin}, json=body, timeout=60), origin)
    assert httpx.get(url, headers=auth, timeout=60).json()["total"] == before
    chat = {"model": "serac", "messages": [{"role": "user", "content": "hi"}]}
    _refused(httpx.post(live_server.url + "/v1/chat/completions", headers=auth | {"Origin": FOREIGN}, json=chat))


@pytest.mark.models
def test_the_same_request_from_its_own_origin_or_without_origin_is_served(live_server):
    auth = {"Authorization": f"Bearer {live_server.viewer_token}"}
    for headers in (auth | {"Origin": _own(live_server)}, auth, auth | {"Origin": _own(live_server).upper()}):
        response = httpx.get(live_server.url + "/api/me", headers=headers, timeout=60)
        assert response.status_code == 200 and response.json()["name"] == live_server.viewer[0]
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.models
def test_gradio_login_queue_and_preflight_from_another_site_are_refused(live_server):
    form = {"username": live_server.viewer[0], "password": live_server.viewer[1]}
    _refused(httpx.post(live_server.url + "/login", data=form, headers={"Origin": FOREIGN}, timeout=60))
    join = {"data": [], "fn_index": 0, "session_hash": "abc", "event_data": None, "trigger_id": 0}
    _refused(httpx.post(live_server.url + "/gradio_api/queue/join", json=join, headers={"Origin": FOREIGN}, timeout=60))
    _refused(httpx.get(live_server.url + "/", headers={"Origin": FOREIGN}, timeout=60))
    preflight = {"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
    _refused(httpx.options(live_server.url + "/gradio_api/queue/join", headers=preflight, timeout=60))
    _refused(httpx.options(live_server.url + "/api/edits", headers=preflight, timeout=60))


@pytest.mark.models
def test_login_from_its_own_origin_works_and_its_cookie_is_samesite_lax(live_server):
    form = {"username": live_server.viewer[0], "password": live_server.viewer[1]}
    response = httpx.post(live_server.url + "/login", data=form, headers={"Origin": _own(live_server)}, timeout=60)
    assert response.status_code == 200 and response.json() == {"success": True}
    cookies = response.headers.get_list("set-cookie")
    assert cookies and all("access-token" in c for c in cookies)
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "samesite=lax" in attributes and "samesite=none" not in attributes, cookie
    assert "access-control-allow-origin" not in response.headers


def _app(allowed: tuple[str, ...]) -> TestClient:
    """A real FastAPI app behind the server's same-origin policy (webapp.server._same_origin)."""
    app = FastAPI()

    @app.post("/write")
    def write() -> dict:
        return {"written": True}

    _same_origin(app, allowed)
    return TestClient(app, base_url="http://testserver")


def test_an_allowed_origin_gets_cors_with_credentials_and_others_none():
    client = _app(("https://curators.example.org",))
    ok = client.post("/write", headers={"Origin": "https://curators.example.org"})
    assert ok.status_code == 200 and ok.json() == {"written": True}
    assert ok.headers["access-control-allow-origin"] == "https://curators.example.org"
    assert ok.headers["access-control-allow-credentials"] == "true"
    preflight = client.options(
        "/write", headers={"Origin": "https://curators.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    refused = client.post("/write", headers={"Origin": "https://other.example.org"})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    own = client.post("/write", headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and "access-control-allow-origin" not in own.headers


@pytest.mark.parametrize("origin", ["example.org", "https://example.org/path", "ftp://example.org", "null", ""])
def test_a_malformed_allowed_origin_is_a_config_error(origin):
    assert parse_origin(origin) is None
    with pytest.raises(ConfigError, match="an allowed origin is scheme://host"):
        SeracConfig(allowed_origins=(origin,))


def test_origins_compare_with_default_ports_and_case():
    assert (
        parse_origin("HTTPS://Example.org") == parse_origin("https://example.org:443") == ("https", "example.org", 443)
    )
    assert parse_origin("http://127.0.0.1:7860") != parse_origin("http://127.0.0.1:7861")
