"""The client address behind the login backoff (webapp/client.py): X-Forwarded-For and X-Forwarded-Proto are
believed only from configured trusted proxies; anyone else's headers change nothing."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from webapp.client import CLIENT_ADDRESS, ClientAddressMiddleware, client_address, networks

PROXIES = networks(["127.0.0.1", "10.0.0.0/8"])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say():
    assert client_address("198.51.100.7", ["203.0.113.1"], ()) == "198.51.100.7"
    assert client_address("198.51.100.7", ["203.0.113.1"], PROXIES) == "198.51.100.7"  # peer is no proxy
    assert client_address(None, [], ()) == "unknown"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client():
    assert client_address("127.0.0.1", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    # the client's own claim (left) is not believed; the hop the trusted proxies saw is
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.9, 10.1.2.3"], PROXIES) == "203.0.113.9"
    assert client_address("127.0.0.1", ["6.6.6.6", "203.0.113.9"], PROXIES) == "203.0.113.9"  # two headers
    assert client_address("127.0.0.1", ["10.1.1.1"], PROXIES) == "10.1.1.1"  # only proxies: the farthest
    assert client_address("127.0.0.1", ["not-an-ip, 10.2.2.2"], PROXIES) == "10.2.2.2"
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"


def echo_app(trusted: tuple[str, ...], peer: tuple[str, int]) -> TestClient:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"client": request.client.host, "var": CLIENT_ADDRESS.get(), "scheme": request.url.scheme})

    app = Starlette(routes=[Route("/", echo)])
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=trusted)
    return TestClient(app, client=peer)


def test_the_middleware_resolves_the_request_client_for_every_route():
    spoof = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    direct = echo_app((), ("198.51.100.7", 5000)).get("/", headers=spoof).json()
    assert direct == {"client": "198.51.100.7", "var": "198.51.100.7", "scheme": "http"}
    proxied = echo_app(("127.0.0.1",), ("127.0.0.1", 5000)).get("/", headers=spoof).json()
    assert proxied == {"client": "203.0.113.9", "var": "203.0.113.9", "scheme": "https"}
