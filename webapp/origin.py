"""Same-origin policy for the whole server (UI, Gradio's queue/join/predict routes, /api, /v1, /docs).

A browser names the page that sends a request in its `Origin` header (on every POST and every cross-origin
request). Only the server's own origin (scheme://host:port as the request reached it) and the configured
`--allowed-origin` values may call it: a request with any other Origin is refused with 403 and a JSON
`{"detail": ...}` before any route runs, whatever its method (a WebSocket handshake is closed). A request
without Origin (curl, the CLI, API clients, a top-level navigation) is let through: it carries no ambient
cookie from another site's page.

Invariants:
- no response carries `Access-Control-Allow-Origin` for an origin that is neither the server's own nor allowed
  (foreign requests never reach a route; CORS answers come only from Starlette's CORSMiddleware, configured with
  the allowed origins, which also keeps Gradio from echoing any Origin with credentials);
- every cookie the app sets is `SameSite=Lax`: Gradio sets its login cookie `SameSite=None` and offers no
  setting, so it is rewritten on the way out, and another site's page cannot send it with its requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import parse_origin


class SameOriginMiddleware:
    """Refuse requests whose Origin is foreign (403); make every cookie SameSite=Lax."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()):
        self.app = app
        self.allowed = {n for n in (parse_origin(o) for o in allowed_origins) if n}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not self.accepts(origin, scope, headers):
            await _refuse(scope, receive, send, origin, self.own(scope, headers))
            return
        await self.app(scope, receive, _lax_cookies(send) if scope["type"] == "http" else send)

    def accepts(self, origin: str, scope: Scope, headers: Headers) -> bool:
        found = parse_origin(origin)
        return found is not None and (found in self.allowed or found == parse_origin(self.own(scope, headers)))

    @staticmethod
    def own(scope: Scope, headers: Headers) -> str:
        """The origin this request reached: its scheme and Host header (uvicorn applies X-Forwarded-Proto from
        trusted proxies to the scheme)."""
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        return f"{scheme}://{headers.get('host', '')}"


async def _refuse(scope: Scope, receive: Receive, send: Send, origin: str, own: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect, then refuse the handshake
        await send({"type": "websocket.close", "code": 1008, "reason": "cross-origin request refused"})
        return
    detail = (
        f"cross-origin request refused: this server only answers its own pages ({own}) and the origins named "
        f"with --allowed-origin; the request came from {origin[:200]!r}"
    )
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _lax_cookies(send: Send) -> Send:
    """A send that rewrites `SameSite=None` on every Set-Cookie header to `SameSite=Lax`."""

    async def lax(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                (name, _lax(value) if name.lower() == b"set-cookie" else value)
                for name, value in message.get("headers", [])
            ]
        await send(message)

    return lax


def _lax(cookie: bytes) -> bytes:
    parts = [p.strip() for p in cookie.split(b";")]
    kept = [p for p in parts[1:] if not p.lower().startswith(b"samesite")]
    return b"; ".join([parts[0], *kept, b"SameSite=Lax"])
