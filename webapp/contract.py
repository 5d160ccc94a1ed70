"""What the HTTP routes promise in their OpenAPI document (/openapi.json): the text fields they accept, the error
bodies they answer and which error statuses each route can return, so that the document is the contract a generated
client (or a fuzzer, tests/test_fuzz_api.py) can rely on.

Invariants:
- a text field's schema says exactly what the server accepts: `pattern` is core.text's rule (no control character
  but tab and newline; a required field holds a visible character) and `maxLength` the edit log's limit on the text
  as sent; the field's validator checks the same pattern and length, so a request valid by the schema is never
  refused for its text and an invalid one always is (422 under /api, 400 under /v1, a line naming the field);
- every /api error is `{"detail": "one line"}` (ApiError; a 409 from POST /api/edits adds `conflicts`); every /v1
  error is OpenAI's `{"error": {...}}` (webapp.openai_schema.ErrorResponse) but the same-origin guard's 403, which
  answers before any route, as ApiError; FastAPI's own 422 list shape is never declared, because no route answers it;
- `api_errors` / `openai_errors` list the statuses a route can return (401 without a valid token, 403 a foreign
  Origin or a viewer writing, 413 a body over the limit, ...); a status a route returns must be listed here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import AfterValidator, BaseModel, Field

from core.config import SeracConfig
from core.text import REQUIRED_TEXT_PATTERN, TEXT_PATTERN

MAX_TEXT = SeracConfig.__dataclass_fields__["max_prompt_chars"].default  # the edit log's limit on one text field


def text_problem(value: str, pattern: str, max_chars: int = MAX_TEXT) -> str | None:
    """What is wrong with one text field as sent ("is 5000 characters; the limit is 4096"), or None: exactly the
    strings that the schema `text_schema(pattern, max_chars)` excludes."""
    if len(value) > max_chars:
        return f"is {len(value)} characters; the limit is {max_chars}"
    if re.fullmatch(pattern, value):
        return None
    bad = [c for c in value if not re.fullmatch(TEXT_PATTERN, c)]
    return f"contains control characters ({ascii(bad[0])})" if bad else "must not be empty or whitespace"


def text_schema(pattern: str, max_chars: int = MAX_TEXT) -> dict[str, Any]:
    return {"pattern": pattern, "maxLength": max_chars}


def _text_rule(pattern: str, max_chars: int):
    """A pydantic validator for one text field: text_problem as a ValueError (422, a line naming the field)."""

    def check(value: str | None) -> str | None:
        problem = None if value is None else text_problem(value, pattern, max_chars)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def text_field(pattern: str, max_chars: int = MAX_TEXT) -> Any:
    """An annotated str whose schema and validation are one rule (see the module's invariants)."""
    return Annotated[str, _text_rule(pattern, max_chars), Field(json_schema_extra=text_schema(pattern, max_chars))]


Text = text_field(REQUIRED_TEXT_PATTERN)  # prompts, targets: some visible text
OptionalText = text_field(TEXT_PATTERN)  # subject, notes, reasons: blank means none
SEARCH_QUERY = {  # GET /api/edits?search=: the same rule as a query parameter
    "json_schema_extra": text_schema(TEXT_PATTERN),
    "description": "text in the prompt, target, subject or notes (any case)",
}
search_rule = _text_rule(TEXT_PATTERN, MAX_TEXT)


class ApiError(BaseModel):
    """Every /api error: one line for a person."""

    detail: str = Field(description="what was wrong, in one line; nothing was changed")


class ConflictError(ApiError):
    """A 409: a wrong state, or (POST /api/edits) a conflict nobody settled, with the conflicting edits."""

    conflicts: dict | None = Field(None, description="POST /api/edits only: the contradicted and repeated edits")


_API_WHY = {
    401: "no valid API token (`Authorization: Bearer TOKEN`)",
    403: "a viewer's token on a write, or a browser request from a foreign Origin",
    404: "no edit with this id",
    409: "the edit's state does not allow it, or the new edit conflicts with an active one",
    413: "the request body is over 1 MiB",
    422: "bad input: the line says which field and why",
    429: "too many requests: retry after the time the Retry-After header gives",
    502: "the remote base model refused the request",
    503: "the remote base model is unavailable",
}


def api_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for an /api route: 401, 403, 413 and 422 always, plus `statuses`."""
    codes = sorted({401, 403, 413, 422, *statuses})
    return {c: {"model": ConflictError if c == 409 else ApiError, "description": _API_WHY[c]} for c in codes}


_OPENAI_WHY = {
    400: "bad input (the error's `param` names the field); also a prompt longer than the model's context",
    401: "no valid API token",
    403: 'a browser request from a foreign Origin (answered before any route, as `{"detail": ...}`)',
    404: "no such model",
    413: "the request body is over 1 MiB",
    429: "too many requests: retry after the time the Retry-After header gives",
    502: "the remote base model refused the request",
    503: "the remote base model is unavailable",
}


def openai_errors(error_model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for a /v1 route (OpenAI's error shape): 400, 401, 403 and 413 always, plus `statuses`.
    The 403 is the same-origin guard's (webapp.origin), which answers every path alike."""
    codes = sorted({400, 401, 403, 413, *statuses})
    return {c: {"model": ApiError if c == 403 else error_model, "description": _OPENAI_WHY[c]} for c in codes}


def without_fastapi_422(server: FastAPI, prefix: str) -> None:
    """Drop FastAPI's automatic 422 (its list shape) from the routes under `prefix`, which answer bad input with 400."""
    build = server.openapi

    def openapi() -> dict:
        if server.openapi_schema is None:
            schema = build()
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values() if path.startswith(prefix) else ():
                    operation.get("responses", {}).pop("422", None)
            server.openapi_schema = schema
        return server.openapi_schema

    server.openapi = openapi


# ---- what /api answers (the shapes of core.types.Edit.to_dict and services.conflicts.Conflicts.to_dict) ----------
class EditOut(BaseModel):
    id: int
    prompt: str
    target: str
    subject: str | None
    notes: str | None
    status: Literal["active", "retired"]
    created_at: str | None = Field(description="ISO 8601")
    created_by: str | None
    updated_at: str | None = Field(description="ISO 8601")
    updated_by: str | None


class ClashOut(EditOut):
    why: str = Field(description="'same prompt', or 'in scope' of the new prompt")
    score: float | None = Field(description="the scope score of the new prompt on this edit")


class ConflictsOut(BaseModel):
    contradictions: list[ClashOut] = Field(description="active edits the new one contradicts (another target)")
    duplicates: list[ClashOut] = Field(description="active edits it repeats (the same target)")
    threshold: float
    summary: str


class AddOut(BaseModel):
    edit: EditOut | None = Field(description="the new edit; null when the old edits' target was replaced")
    changed: list[EditOut] = Field(description="the edits this add retired or changed")
    conflicts: ConflictsOut | dict = Field(description="what the add conflicted with, as settled")
    probe_check: dict | None = Field(None, description="with ?probe_check=true: which nearby probes now fail")


class WrittenOut(EditOut):
    probe_check: dict | None = Field(None, description="with ?probe_check=true: which nearby probes now fail")


class EditPage(BaseModel):
    total: int
    offset: int
    limit: int
    edits: list[EditOut]


class Me(BaseModel):
    name: str
    role: Literal["viewer", "curator"]
