"""What users see of an unexpected exception: one short line with an id; the traceback goes only to the server log.

An exception the app did not expect (a database file gone, a table dropped behind the app's back, a bug) may
carry SQL, file paths or a database URL in its text. `internal_error` logs it under a fresh id (logger
`serac.errors`, with the traceback) and returns "internal error, id 7f3a9c2e; the server log has the detail",
which is all the client gets:
- /api and everything else served over HTTP: 500 `{"detail": LINE}` (`InternalErrorMiddleware`);
- /v1: 500 in the OpenAI error shape (webapp.openai_api's route class calls `internal_error`);
- Gradio callbacks: a gr.Error with LINE (`shield_callbacks` wraps every event function of the Blocks).

Invariants: expected errors keep their own messages (EditorError, HTTP errors and gr.Error are never caught
here); a response already started is not replaced (the exception is logged and re-raised); the id is in both
the client's line and the log record, so an operator can find one from the other.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import secrets

import gradio as gr
from gradio_client.exceptions import AppError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import EditorError

log = logging.getLogger("serac.errors")


def internal_error(exc: BaseException, where: str) -> str:
    """Log `exc` with its traceback under a new id; return the line to show the user."""
    error_id = secrets.token_hex(4)
    log.error("internal error, id %s, in %s: %s", error_id, where, type(exc).__name__, exc_info=exc)
    return f"internal error, id {error_id}; the server log has the detail"


class InternalErrorMiddleware:
    """Turn an exception that escapes the app before its response started into 500 {"detail": line}."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            body = json.dumps({"detail": internal_error(exc, f"{scope.get('method')} {scope.get('path')}")}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def shield_callbacks(blocks: gr.Blocks) -> None:
    """Wrap every event function of `blocks` so an unexpected exception reaches the page as a short gr.Error."""
    for block_fn in blocks.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, "_serac_shielded", False):
            block_fn.fn = shielded(block_fn.fn)


def shielded(fn):
    """`fn` (plain, async, generator or async generator) with unexpected exceptions turned into gr.Error."""
    where = f"UI callback {getattr(fn, '__qualname__', fn)!r}"

    def short(exc: Exception) -> Exception:
        if isinstance(exc, AppError):
            return exc
        return gr.Error(str(exc) if isinstance(exc, EditorError) else internal_error(exc, where))

    if inspect.isasyncgenfunction(fn):

        async def wrapped(*args, **kwargs):
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as exc:
                raise short(exc) from None
    elif inspect.isgeneratorfunction(fn):

        def wrapped(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise short(exc) from None
    elif inspect.iscoroutinefunction(fn):

        async def wrapped(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise short(exc) from None
    else:

        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                raise short(exc) from None

    wrapped = functools.wraps(fn)(wrapped)
    wrapped._serac_shielded = True
    return wrapped
