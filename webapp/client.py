"""The client's address, as the login rate limit and the logs see it, and when a reverse proxy is believed.

By default the client is the connection's peer and `X-Forwarded-For` / `X-Forwarded-Proto` are ignored: anyone
can send them, so believing them would let one client pose as many and escape the per-address login backoff.
Only when the peer is one of `config.trusted_proxies` (`--trusted-proxy`, env SERAC_TRUSTED_PROXIES) are they
read: the client is the right-most X-Forwarded-For hop that is not itself a trusted proxy (what the nearest
trusted proxy saw; hops further left are the client's own claims), and X-Forwarded-Proto sets the scheme.

Invariants: `ClientAddressMiddleware` runs outermost, rewrites `scope["client"]` (so FastAPI's request.client
and Gradio see the resolved address) and sets `CLIENT_ADDRESS` for code called without the request (Gradio's
login function); uvicorn's own proxy-header handling is off (cli.context), so this is the only place that
decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("serac_client_address", default=None)
MAX_HOPS = 32  # X-Forwarded-For entries read at most


def networks(trusted: Iterable[str]) -> tuple:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: str | None, trusted: tuple) -> bool:
    ip = _ip(address or "")
    return ip is not None and any(ip.version == n.version and ip in n for n in trusted)


def client_address(peer: str | None, forwarded_for: list[str], trusted: tuple) -> str:
    """The client: `peer` unless it is a trusted proxy; then the right-most X-Forwarded-For hop that is not a
    trusted proxy (a hop that is not an IP address ends the walk: the peer before it is the client)."""
    if not trusted or not _trusted(peer, trusted):
        return peer or "unknown"
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()][-MAX_HOPS:]
    client = peer or "unknown"
    for hop in reversed(hops):
        if _ip(hop) is None:
            break
        client = str(_ip(hop))
        if not _trusted(client, trusted):
            break
    return client


class ClientAddressMiddleware:
    """Resolve each request's client address (see the module docstring) into scope["client"] and CLIENT_ADDRESS."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()):
        self.app, self.trusted = app, networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = (scope.get("client") or (None, 0))[0]
            headers = Headers(scope=scope)
            address = client_address(peer, headers.getlist("x-forwarded-for"), self.trusted)
            if self.trusted and _trusted(peer, self.trusted):
                scope["client"] = (address, 0)
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
            CLIENT_ADDRESS.set(address)
        await self.app(scope, receive, send)
