"""The JSON API under /api: create, list, retire, restore and change edits; ask a prompt for its full routing
record; read the log's and the index's figures.

Invariants:
- every route needs `Authorization: Bearer TOKEN` (401 otherwise); writes need a curator (403 otherwise);
- errors are JSON `{"detail": "one clear line"}` with the EditorError's status (422 bad input, 404 unknown
  edit, 409 state conflict or contradiction, 413 body over the limit) and change nothing;
- the audit log records the token's user; routes only append audit rows (none changes or deletes one);
- GET /api/stats is read-only: the log's counts and whether the index holds exactly its active edits;
- request bodies over 1 MiB get 413 and bodies that are not UTF-8 get 422 before any route runs (BodyGuard);
- /openapi.json is the contract (webapp.contract): each route lists the error statuses it returns, bodies refuse
  unknown fields and other JSON types (422), text fields state clean_field's rule as pattern and maxLength;
- concurrent POST /api/edits share one model pass (webapp.add_batcher), each with its own result;
- POST /api/ask writes nothing while the client waits: with --log-probes its record is written after the response;
- POST /api/ask is heavy work (services.limits): beyond the server's bound 503, beyond the user's rate 429, both
  with Retry-After and nothing done; writes are never refused for load;
- POST /api/edits with an `Idempotency-Key` header is saved at most once per user and key: a retry with the
  same body gets the first result again with 200 (`Idempotency-Replayed: true`) and writes nothing; the same key
  with another body is 422 and writes nothing (webapp.idempotent);
- with `?probe_check=true`, a write also re-runs the probe sets of the edits near it and answers with an extra
  field `probe_check` (services.regressions: which probes now fail, and why); off by default, as it routes
  every nearby probe twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import EditorError
from core.text import REQUIRED_TEXT_PATTERN
from core.types import EditDraft
from db.repository import MAX_EDIT_ID
from services.conflicts import ConflictRefused
from services.limits import Refused
from services.regressions import guarded, guarded_edit
from services.services import Services
from services.stats import stats
from webapp import idempotent
from webapp.add_batcher import AddBatcher
from webapp.auth import NotAuthenticated, User, UserStore, require_curator
from webapp.body_guard import BodyGuard
from webapp.contract import (
    SEARCH_QUERY,
    AddOut,
    EditOut,
    EditPage,
    Me,
    OptionalText,
    Text,
    WrittenOut,
    api_errors,
    search_rule,
)

MAX_LIST = 1000
# the catch-all routes answer these (404, or 405 with Allow on a path that takes others); HEAD/OPTIONS stay implicit
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "QUERY", "CONNECT"]
EditId = Annotated[int, Path(ge=1, le=MAX_EDIT_ID, description="the edit's id")]  # larger ones: 422, not a crash
Offset = Annotated[int, Query(ge=0, le=MAX_EDIT_ID, description="edits to skip")]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="any unique string (e.g. a UUID) chosen by the client: a retry with the same key and body "
        "returns the first result (200) and saves nothing new; the same key with another body is 422",
        json_schema_extra={"pattern": "^[!-~]{1,255}$"},  # what db.idempotency.clean_key accepts
    ),
]
LOAD_REFUSALS = {
    429: {"description": "this user's rate of heavy reads is used up (`Retry-After`: seconds)"},
    503: {"description": "too many heavy reads are running or waiting (`Retry-After`: seconds)"},
}
NO_TOKEN = "a valid API token is required: send 'Authorization: Bearer TOKEN'"
ProbeCheck = Annotated[
    bool,
    Query(description="also re-run the probe sets of the edits nearby; the answer's `probe_check` says which now fail"),
]


class _Body(BaseModel):
    # a misspelt field is refused (422), never silently dropped; JSON types as declared ("5" is not 5)
    model_config = ConfigDict(extra="forbid", strict=True)


class EditIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={  # the rule of `_keep_needs_reason`, for the document
            "if": {"properties": {"on_conflict": {"const": "keep"}}, "required": ["on_conflict"]},
            "then": {
                "properties": {"reason": {"type": "string", "pattern": REQUIRED_TEXT_PATTERN}},
                "required": ["reason"],
            },
        }
    )
    prompt: Text = Field(description="the edit's input, e.g. 'The mother tongue of Danielle Darrieux is'")
    target: Text = Field(description="its new output, e.g. 'English'")
    subject: OptionalText | None = None
    notes: OptionalText | None = None
    on_conflict: Literal["refuse", "replace", "retire", "keep"] = Field(
        "refuse",
        description="when the prompt is an active edit's prompt or falls in its scope: 'refuse' (409, nothing "
        "saved), 'replace' (the contradicted edits take this target; no new edit), 'retire' (they are retired, "
        "this one is added) or 'keep' (both stay active; needs a reason)",
    )
    reason: OptionalText | None = Field(
        None, description="why (kept in the audit log); required with on_conflict 'keep'"
    )

    @model_validator(mode="after")
    def _keep_needs_reason(self) -> EditIn:
        if self.on_conflict == "keep" and not (self.reason or "").strip():
            raise ValueError("on_conflict 'keep' needs a reason (it is kept in the audit log)")
        return self


class ReasonIn(_Body):
    reason: OptionalText | None = None


class TargetIn(_Body):
    target: Text = Field(description="the edit's new output (recorded as a change; the old one stays in the audit log)")
    reason: OptionalText | None = None


class AskIn(_Body):
    prompt: Text = Field(description="any prompt; the answer comes with the full routing record")


def install_api(server: FastAPI, services: Services, users: UserStore) -> None:
    """Add the /api routes and the EditorError -> JSON handler to the server."""
    current_user = bearer_user(users)

    @server.exception_handler(EditorError)
    async def _editor_error(_: Request, exc: EditorError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if isinstance(exc, MethodNotAllowed):
            headers = {"Allow": ", ".join(exc.allowed)}
        if isinstance(exc, Refused):  # 429 / 503 for load (services.limits): when to try again
            headers = exc.headers
        body = {"detail": str(exc)}
        if isinstance(exc, ConflictRefused):
            body["conflicts"] = exc.conflicts.to_dict()
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @server.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI parses the body before it resolves the token; an anonymous caller still gets 401, not 422
        if request.url.path.startswith("/api") and users.user_for_token(_bearer(request)) is None:
            return await _editor_error(request, NotAuthenticated(NO_TOKEN))
        return JSONResponse({"detail": validation_line(exc.errors())}, status_code=422)

    server.add_middleware(BodyGuard)
    server.include_router(_router(services, current_user), prefix="/api")


def bearer_user(users: UserStore):
    """The FastAPI dependency that turns `Authorization: Bearer TOKEN` into its User, or NotAuthenticated (401)."""
    bearer = HTTPBearer(auto_error=False, description="an API token from `python app.py token create USER`")

    def current_user(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> User:
        user = users.user_for_token(credentials.credentials if credentials else None)
        if user is None:
            raise NotAuthenticated(NO_TOKEN)
        return user

    return current_user


def _router(services: Services, current_user) -> APIRouter:
    api = APIRouter(tags=["edits"])
    adds = AddBatcher(services)

    @api.post(
        "/edits",
        status_code=201,
        summary="Add an edit (409 when it conflicts with an active edit, unless on_conflict settles it)",
        responses={
            200: {"model": AddOut, "description": "replaced: the old edits took the target; or a replayed retry"}
        }
        | api_errors(409),
        response_model=AddOut,
        response_model_exclude_unset=True,  # probe_check only when asked for
    )
    def create_edit(
        body: EditIn,
        response: Response,
        probe_check: ProbeCheck = False,
        user: User = Depends(current_user),
        idempotency_key: IdempotencyHeader = None,
    ) -> dict:
        require_curator(user)
        key = idempotent.first_use(services, user.name, idempotency_key, body.model_dump(), response)
        if isinstance(key, dict):
            return key  # a retry: the first result again
        draft = EditDraft(body.prompt, body.target, body.subject, body.notes)

        def add():  # concurrent adds share one model pass
            return adds.add(draft, user.name, body.on_conflict, body.reason, key)

        try:
            if probe_check:
                (edit, changed, conflicts), report = guarded(
                    services, [draft.prompt], add, lambda r: [e.id for e in [r[0], *r[1]] if e is not None]
                )
            else:
                (edit, changed, conflicts), report = add(), None
        except Exception:
            replay = idempotent.after_failure(services, user.name, key, response)
            if replay is None:
                raise
            return replay  # a concurrent request with the same key saved it first
        if edit is None:
            response.status_code = 200  # replaced: the old edits changed, nothing was created
        out = {
            "edit": edit.to_dict() if edit else None,
            "changed": [e.to_dict() for e in changed],
            "conflicts": conflicts.to_dict(),
        }
        return out | ({"probe_check": report.to_dict()} if report else {})

    @api.get(
        "/edits",
        summary="List edits (filter by status and text; paged)",
        responses=api_errors(),
        response_model=EditPage,
    )
    def list_edits(
        status: Annotated[str | None, Query(json_schema_extra={"enum": ["active", "retired"]})] = None,
        search: Annotated[str | None, search_rule, Query(**SEARCH_QUERY)] = None,
        offset: Offset = 0,
        limit: int = 100,
        user: User = Depends(current_user),
    ) -> dict:
        limit, offset = max(1, min(limit, MAX_LIST)), max(0, offset)
        repo = services.repository
        edits = repo.list_edits(status, search, offset=offset, limit=limit)
        return {
            "total": repo.count_edits(status, search),
            "offset": offset,
            "limit": limit,
            "edits": [e.to_dict() for e in edits],
        }

    @api.get("/edits/{edit_id}", summary="One edit", responses=api_errors(404), response_model=EditOut)
    def get_edit(edit_id: EditId, user: User = Depends(current_user)) -> dict:
        return services.repository.get(edit_id).to_dict()

    @api.post(
        "/edits/{edit_id}/retire",
        summary="Retire an edit (it stops routing; undo with restore)",
        responses=api_errors(404, 409),
        response_model=WrittenOut,
        response_model_exclude_unset=True,  # probe_check only when asked for
    )
    def retire(
        edit_id: EditId,
        body: ReasonIn | None = None,
        probe_check: ProbeCheck = False,
        user: User = Depends(current_user),
    ) -> dict:
        require_curator(user)
        return written(edit_id, probe_check, lambda i: services.retire(i, user.name, body.reason if body else None))

    @api.post(
        "/edits/{edit_id}/restore",
        summary="Restore a retired edit",
        responses=api_errors(404, 409),
        response_model=WrittenOut,
        response_model_exclude_unset=True,
    )
    def restore(
        edit_id: EditId,
        body: ReasonIn | None = None,
        probe_check: ProbeCheck = False,
        user: User = Depends(current_user),
    ) -> dict:
        require_curator(user)
        return written(edit_id, probe_check, lambda i: services.restore(i, user.name, body.reason if body else None))

    @api.patch(
        "/edits/{edit_id}",
        summary="Change an edit's target (recorded as a change, not an overwrite)",
        responses=api_errors(404, 409),
        response_model=WrittenOut,
        response_model_exclude_unset=True,  # probe_check only when asked for
    )
    def change_target(
        edit_id: EditId, body: TargetIn, probe_check: ProbeCheck = False, user: User = Depends(current_user)
    ) -> dict:
        require_curator(user)
        return written(edit_id, probe_check, lambda i: services.change_target(i, body.target, user.name, body.reason))

    @api.post("/ask", summary="Route and answer a prompt; the full routing record", responses=api_errors(429, 502, 503))
    def ask(body: AskIn, tasks: BackgroundTasks, user: User = Depends(current_user)) -> dict:
        with services.heavy.admit(user.name):  # 429 / 503 with Retry-After beyond the limits (services.limits)
            records = services.ask([body.prompt], user.name, log=False)
        tasks.add_task(services.log_probes, records, user.name)  # the opt-in probe log, after the response
        return records[0].to_dict()

    @api.get(
        "/stats",
        summary="Edits by status, audit rows by action, and the index size (read-only)",
        responses=api_errors(),
    )
    def log_stats(user: User = Depends(current_user)) -> dict:
        return stats(services)

    @api.get("/me", summary="Who the token belongs to", responses=api_errors(), response_model=Me)
    def me(user: User = Depends(current_user)) -> dict:
        return {"name": user.name, "role": user.role}

    @api.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
    def no_route(path: str, request: Request, user: User = Depends(current_user)) -> dict:
        allowed = _methods_for(api, "/" + path)
        if allowed:  # the path exists, the method does not: 405 with the methods it takes
            raise MethodNotAllowed(
                f"{request.method} is not allowed on /api/{path}; it takes {', '.join(allowed)}", allowed
            )
        raise NoRoute(f"no API route /api/{path}; see /docs")

    def written(edit_id: int, probe_check: bool, write) -> dict:
        """The edit as JSON after `write`; with probe_check, plus the probe check around the write."""
        if not probe_check:
            return write(edit_id).to_dict()
        edit, report = guarded_edit(services, edit_id, write)
        return edit.to_dict() | {"probe_check": report.to_dict()}

    return api


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def validation_line(errors: list[dict]) -> str:
    """FastAPI's validation errors as one line: 'target: Field required; prompt: ...'."""
    parts = []
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            parts.append(f"request body is not valid JSON{': ' + reason if reason else ''}")
            continue
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")) or "body"
        if error.get("type") == "value_error":  # our own rules (webapp.contract): "prompt is 5000 characters; ..."
            message = str((error.get("ctx") or {}).get("error", error.get("msg")))
            parts.append(message if where == "body" else f"{where} {message}")
            continue
        parts.append(f"{where}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def _methods_for(api: APIRouter, path: str) -> list[str]:
    """The methods the router's real routes take at this path (the catch-all left out)."""
    methods: set[str] = set()
    for route in api.routes:
        if isinstance(route, APIRoute) and route.include_in_schema and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)


class MethodNotAllowed(EditorError):
    """A method an existing /api path does not take."""

    http_status = 405

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message)
        self.allowed = allowed


class NoRoute(EditorError):
    """An /api path that does not exist (asked with a valid token)."""

    http_status = 404
