"""An ASGI guard in front of the JSON API: request bodies over a size limit get 413, bodies that are not UTF-8 get
422, before any route (or JSON parser) sees them.

Invariants: only paths under `prefix` are guarded; a refused body never reaches the app, so it changes nothing;
an accepted body reaches the app byte for byte (it is read once here and replayed). The API's bodies are a few
short text fields, so reading them whole is cheap; the limit keeps a huge body from costing memory or time.
"""

from __future__ import annotations

import json

MAX_BODY_BYTES = 1 << 20  # 1 MiB: four fields of at most max_prompt_chars each fit many times over


class BodyGuard:
    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, prefix: str = "/api", shape=None):
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix
        # (status, detail) -> (status, body): how the guarded API answers errors; by default /api's {"detail": ...}
        self.shape = shape or (lambda status, detail: (status, {"detail": detail}))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, *self.shape(413, self._too_large()))
            return
        body, messages = b"", []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _refuse(send, *self.shape(413, self._too_large()))
                return
            if not message.get("more_body", False):
                break
        problem = _not_utf8(body)
        if problem:
            await _refuse(send, *self.shape(422, problem))
            return
        await self.app(scope, _replay(messages, receive), send)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"


def _not_utf8(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"request body is not valid UTF-8 (byte {exc.start})"
    return None


def _replay(messages: list[dict], receive):
    pending = list(messages)

    async def replay() -> dict:
        return pending.pop(0) if pending else await receive()

    return replay


async def _refuse(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
