"""The OpenAI-compatible routes under /v1, so any OpenAI client gets the edited model's answers:
GET /v1/models, POST /v1/completions and POST /v1/chat/completions (whole responses or server-sent events).

Invariants:
- every route needs the same bearer token as /api (401 otherwise, checked before the body is judged);
- each answer comes from services.serving.serve (route, then the chosen model) and carries the routing decision
  twice: the `serac` field (in a stream: on the first chunk) and the X-Serac-Route / X-Serac-Edit-Id /
  X-Serac-Score headers;
- every error is the OpenAI shape {"error": {"message", "type", "param", "code"}}: 400 bad input (FastAPI's 422
  included), 401, 404 unknown model or route, 405, 413, 500; in a stream that has started, an error event ends it;
- answers are heavy work (services.limits): beyond the server's bound 503, beyond the user's rate 429, both with
  Retry-After, before any model runs; a stream keeps its place until it ends;
- the request path writes nothing to the edit log (the probe log, when enabled, is written after the response).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from core.errors import EditorError
from core.generation import Prompt
from services.services import Services
from services.serving import Served, serve
from webapp.api import ALL_METHODS, NO_TOKEN, _bearer, _methods_for, bearer_user, validation_line
from webapp.auth import NotAuthenticated, User, UserStore
from webapp.body_guard import BodyGuard
from webapp.contract import openai_errors, without_fastapi_422
from webapp.failures import internal_error
from webapp.openai_schema import (
    CHAT_MAX_TOKENS,
    COMPLETION_MAX_TOKENS,
    MODEL_ID,
    ChatCompletion,
    ChatRequest,
    Completion,
    CompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)

log = logging.getLogger(__name__)
STARTED = int(time.time())
ERRORS = openai_errors(
    ErrorResponse
)  # every /v1 route; the answering ones add 404 (model), 429/503 (load) and 502/503 (remote base)
ANSWER_ERRORS = openai_errors(ErrorResponse, 404, 429, 502, 503)
STREAM_DOC = {200: {"content": {"text/event-stream": {}}, "description": "JSON, or events with `stream: true`"}}
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
}


class RouteError(EditorError):
    """A refusal by the /v1 routes themselves (unknown model or route, wrong method), with what the shape reports."""

    def __init__(self, message: str, status: int, param: str | None = None, code: str | None = None, headers=None):
        super().__init__(message)
        self.http_status, self.param, self.code, self.headers = status, param, code, headers


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    """The OpenAI error shape; FastAPI's 422 is reported as OpenAI's 400."""
    status = 400 if status == 422 else status
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: EditorError) -> JSONResponse:
    status = 400 if exc.http_status == 422 else exc.http_status
    headers = getattr(exc, "headers", None) or ({"WWW-Authenticate": "Bearer"} if status == 401 else None)
    code = getattr(exc, "code", None) or ("invalid_api_key" if status == 401 else None)
    body = error_body(status, str(exc), getattr(exc, "param", None), code)
    return JSONResponse(body, status_code=status, headers=headers)


def _route_class(users: UserStore) -> type[APIRoute]:
    """Routes whose every failure answers in the OpenAI error shape (this router's own handlers, not the server's)."""

    class OpenAIRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            handle = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handle(request)
                except RequestValidationError as exc:  # the body is parsed before the token is checked
                    if users.user_for_token(_bearer(request)) is None:
                        return error_response(NotAuthenticated(NO_TOKEN))
                    first = exc.errors()[0] if exc.errors() else {}
                    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
                    return JSONResponse(error_body(400, validation_line(exc.errors()), param), status_code=400)
                except EditorError as exc:
                    return error_response(exc)
                except Exception as exc:
                    return JSONResponse(error_body(500, internal_error(exc, request.url.path)), 500)

            return guarded

    return OpenAIRoute


def install_openai(server: FastAPI, services: Services, users: UserStore) -> None:
    """Add the /v1 routes (and a body-size guard answering in the OpenAI error shape) to the server."""
    server.add_middleware(BodyGuard, prefix="/v1", shape=_guard_refusal)
    server.include_router(_router(services, users), prefix="/v1")
    without_fastapi_422(server, "/v1")  # bad input here is OpenAI's 400


def _guard_refusal(status: int, detail: str) -> tuple[int, dict]:
    """A body the guard refuses (too large, not UTF-8), answered like every /v1 error."""
    return (400 if status == 422 else status), error_body(status, detail)


def _router(services: Services, users: UserStore) -> APIRouter:
    v1 = APIRouter(tags=["openai"], route_class=_route_class(users), responses=ERRORS)
    current_user = bearer_user(users)

    @v1.get("/models", summary="The served model (OpenAI shape)")
    def models(user: User = Depends(current_user)) -> ModelList:
        return ModelList(data=[_card()])

    @v1.get("/models/{model}", summary="One model (OpenAI shape)", responses=openai_errors(ErrorResponse, 404))
    def model(model: str, user: User = Depends(current_user)) -> ModelCard:
        _known(model)
        return _card()

    def answer(body, prompt: Prompt, default_max_tokens: int, tasks: BackgroundTasks, user: User) -> Response:
        """Serve one request: route and generate; the whole answer as JSON, or server-sent events. Admitted as heavy
        work (services.limits: 429 / 503 with Retry-After) for its whole time, a stream until it ends."""
        services.heavy.enter(user.name)
        release, streaming = _once(lambda: services.heavy.leave(user.name)), False
        try:
            served = serve(services, prompt, body.settings(default_max_tokens), whole=not body.stream)
            tasks.add_task(served.log, user.name)  # the opt-in probe log, after the response
            frame = _Frame(isinstance(body, ChatRequest), served)
            if body.stream:
                chunks = frame.chunks(bool(body.stream_options and body.stream_options.include_usage))
                response, streaming = _events(chunks, served, tasks, release), True
                return response
            return JSONResponse(frame.whole(served.text()), headers=routing_headers(served))
        finally:
            if not streaming:
                release()

    @v1.post("/completions", summary="Continue a prompt with the edited model", responses=STREAM_DOC | ANSWER_ERRORS)
    def completions(body: CompletionRequest, tasks: BackgroundTasks, user: User = Depends(current_user)) -> Completion:
        _known(body.model)
        return answer(body, body.prompt_text(), COMPLETION_MAX_TOKENS, tasks, user)

    @v1.post("/chat/completions", summary="Answer a chat with the edited model", responses=STREAM_DOC | ANSWER_ERRORS)
    def chat(body: ChatRequest, tasks: BackgroundTasks, user: User = Depends(current_user)) -> ChatCompletion:
        _known(body.model)
        return answer(body, body.chat(), CHAT_MAX_TOKENS, tasks, user)

    @v1.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
    def no_route(path: str, request: Request, user: User = Depends(current_user)) -> dict:
        allowed = _methods_for(v1, "/" + path)
        if allowed:
            takes = ", ".join(allowed)
            message = f"{request.method} is not allowed on /v1/{path}; it takes {takes}"
            raise RouteError(message, 405, code="method_not_allowed", headers={"Allow": takes})
        routes = "/v1/models, /v1/completions and /v1/chat/completions"
        raise RouteError(f"no route /v1/{path}; this server serves {routes}", 404, code="not_found")

    return v1


def _known(model: str) -> None:
    if model != MODEL_ID:
        message = f"the model '{model}' does not exist; this server serves '{MODEL_ID}'"
        raise RouteError(message, 404, param="model", code="model_not_found")


def _card() -> ModelCard:
    return ModelCard(id=MODEL_ID, created=STARTED, owned_by="serac-edit-curator")


def routing_headers(served: Served) -> dict[str, str]:
    """X-Serac-Route always; X-Serac-Edit-Id when an edit governs; X-Serac-Score when any edit was scored."""
    serac = serac_info(served)
    headers = {"X-Serac-Route": serac["route"]}
    if serac["edit_id"] is not None:
        headers["X-Serac-Edit-Id"] = str(serac["edit_id"])
    if serac["score"] is not None:
        headers["X-Serac-Score"] = f"{serac['score']:.6f}"
    return headers


def serac_info(served: Served) -> dict:
    decision = served.decision
    best = decision.chosen or (decision.candidates[0] if decision.candidates else None)
    return {
        "route": decision.route,
        "edit_id": decision.chosen.edit.id if decision.chosen else None,
        "score": round(best.score, 6) if best else None,
        "threshold": decision.threshold,
        "route_ms": round(served.route_ms, 3),  # the routing's share of the server's time
        "batch": served.batch,  # rows decoding together when this request started (1: alone)
    }


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    """fn, run at most once however often it is called (a stream's place is given back once)."""
    lock, done = threading.Lock(), []

    def run() -> None:
        with lock:
            if done:
                return
            done.append(True)
        fn()

    return run


def _events(chunks: Iterator[dict], served: Served, tasks: BackgroundTasks, release) -> StreamingResponse:
    """Server-sent events: each chunk as `data: {json}`, then `data: [DONE]`; an error mid-stream as an error event.
    `release` gives the request's heavy-work place back when the stream ends (or the client leaves)."""

    def lines() -> Iterator[str]:
        try:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except EditorError as exc:
            yield f"data: {json.dumps(error_body(exc.http_status, str(exc)))}\n\n"
        except Exception:
            log.exception("unexpected error while streaming")
            yield f"data: {json.dumps(error_body(500, 'internal server error; see the server log'))}\n\n"
        finally:
            release()
        yield "data: [DONE]\n\n"

    tasks.add_task(release)  # also when the client left before the stream started
    headers = {**routing_headers(served), "Cache-Control": "no-cache"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers, background=tasks)


class _Frame:
    """One response's id, time and routing, and the whole body or the chunks built around its text."""

    def __init__(self, chat: bool, served: Served):
        self.chat, self.served = chat, served
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL_ID}

    def usage(self) -> dict:
        g = self.served.generation
        return {
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "total_tokens": g.prompt_tokens + g.completion_tokens,
        }

    def _choice(self, text: str | None, finish: str | None, stream: bool) -> dict:
        if not self.chat:
            content = {"text": text or ""}
        elif stream:
            content = {"delta": {"content": text} if text is not None else {}}
        else:
            content = {"message": {"role": "assistant", "content": text}}
        return {"index": 0, **content, "logprobs": None, "finish_reason": finish}

    def whole(self, text: str) -> dict:
        choice = self._choice(text, self.served.generation.finish_reason, stream=False)
        kind = "chat.completion" if self.chat else "text_completion"
        return {**self._head(kind), "choices": [choice], "usage": self.usage(), "serac": serac_info(self.served)}

    def chunks(self, with_usage: bool) -> Iterator[dict]:
        """The stream's chunks: the routing on the first (a chat's opens with the assistant role), the text as it
        comes, the finish reason, then (when asked) the usage in a chunk without choices."""
        head = self._head("chat.completion.chunk" if self.chat else "text_completion")
        extra = {"serac": serac_info(self.served)}  # on the first chunk only
        if self.chat:  # a chat stream opens with the assistant's role
            opening = self._choice("", None, True) | {"delta": {"role": "assistant", "content": ""}}
            yield {**head, "choices": [opening], **extra}
            extra = {}
        for delta in self.served.stream():
            yield {**head, "choices": [self._choice(delta, None, True)], **extra}
            extra = {}
        yield {**head, "choices": [self._choice(None, self.served.generation.finish_reason, True)], **extra}
        if with_usage:
            yield {**head, "choices": [], "usage": self.usage()}
