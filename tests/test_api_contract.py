"""The OpenAPI document says what the routes accept and return (webapp.contract): the text rule written as a schema
pattern is clean_field's rule, character for character, in Python's and Rust's regex engines (what schemathesis and
jsonschema validators use); every /api error is `{"detail": str}`, every /v1 error OpenAI's shape, FastAPI's list
shape is declared nowhere; and the real app (in-process, tiny models) answers as the document says.
"""

from __future__ import annotations

import json
import re
import sys

import jsonschema_rs
import pytest
from starlette.testclient import TestClient

from core.config import SeracConfig
from core.errors import InvalidInput
from core.text import REQUIRED_TEXT_PATTERN, TEXT_PATTERN, clean_field
from db.accounts import AccountRepository
from db.repository import EditRepository
from services.services import Services
from tests.tiny_models import tiny_editor
from webapp.auth import UserStore
from webapp.contract import MAX_TEXT, text_problem
from webapp.server import create_server

SURROGATES = range(0xD800, 0xE000)


def _clean_ok(text: str, required: bool) -> bool:
    """Whether clean_field (the edit log's own check, after the API's) takes the text."""
    try:
        clean_field("f", text, 10, required=required)
    except InvalidInput:
        return False
    return True


def _code_points():
    """Every code point of the BMP but surrogates, and every 97th one above it."""
    for c in range(0x10000):
        if c not in SURROGATES:
            yield chr(c)
    yield from (chr(c) for c in range(0x10000, sys.maxunicode + 1, 97))


@pytest.mark.parametrize(
    "pattern,required", [(TEXT_PATTERN, False), (REQUIRED_TEXT_PATTERN, True)], ids=["optional", "required"]
)
def test_the_schema_pattern_is_clean_fields_rule_for_every_character(pattern, required):
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    compiled = re.compile(pattern)
    disagree = []
    for c in _code_points():
        for text in (c, f"a{c}b"):  # alone, and inside visible text (where stripping cannot hide it)
            python, rust, rule = (
                bool(compiled.fullmatch(text)),
                validator.is_valid(text),
                not text_problem(text, pattern),
            )
            server = _clean_ok(text, required)
            # one rule in three engines; what it takes the edit log takes; inside text (or required) it is the same
            if not python == rust == rule or (python and not server) or ((text != c or required) and python != server):
                disagree.append((hex(ord(c)), text, python, rust, rule, server))
    assert not disagree, disagree[:20]


@pytest.mark.parametrize(
    "text,problem",
    [
        ("  Paris  ", None),
        ("a\tb\nc", None),
        ("", "must not be empty or whitespace"),
        ("\u3000 \u00a0", "must not be empty or whitespace"),
        ("\x1cParis", "contains control characters ('\\x1c')"),  # str.strip() would remove it: the rule refuses
        ("x" * (MAX_TEXT + 1), f"is {MAX_TEXT + 1} characters; the limit is {MAX_TEXT}"),
    ],
)
def test_text_problem_names_what_is_wrong(text, problem):
    assert text_problem(text, REQUIRED_TEXT_PATTERN) == problem


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    url = f"sqlite:///{folder / 'contract.sqlite'}"
    services = Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), tiny_editor(folder / "lm"))
    users = UserStore(AccountRepository(url))
    users.set_user("alice", "curator", "alice-password-1")
    token = users.create_token("alice")
    with TestClient(create_server(services, users), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _operations(document: dict, prefix: str):
    for path, operations in document["paths"].items():
        if path.startswith(prefix):
            for method, operation in operations.items():
                yield f"{method.upper()} {path}", operation


def test_the_document_declares_one_error_shape_per_surface(app):
    document = app.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(document["paths"])
    for prefix, shape, always in (
        ("/api", "ApiError", {"401", "403", "413", "422"}),
        ("/v1", "ErrorResponse", {"400", "401", "403", "413"}),
    ):
        for name, operation in _operations(document, prefix):
            errors = {s: r for s, r in operation["responses"].items() if s >= "400"}
            assert always <= set(errors), (name, sorted(errors))
            for status, response in errors.items():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                also = {"409": "ConflictError", "403": "ApiError"}.get(status, shape)  # see webapp.contract
                assert ref.endswith(shape) or ref.endswith(also), (name, status, ref)
    retire = document["paths"]["/api/edits/{edit_id}/retire"]["post"]["responses"]
    assert {"404", "409"} <= set(retire)


def test_the_document_states_the_text_rule_and_refuses_unknown_fields(app):
    schemas = app.get("/openapi.json").json()["components"]["schemas"]
    edit = schemas["EditIn"]
    assert edit["additionalProperties"] is False and edit["properties"]["prompt"]["pattern"] == REQUIRED_TEXT_PATTERN
    assert edit["properties"]["prompt"]["maxLength"] == MAX_TEXT
    assert edit["then"]["required"] == ["reason"]  # on_conflict 'keep' needs a reason
    assert schemas["CompletionRequest"]["properties"]["prompt"]["pattern"] == REQUIRED_TEXT_PATTERN


@pytest.mark.parametrize(
    "method,path,body,status,detail",
    [
        ("POST", "/api/edits", {"prompt": "p q", "target": "t", "targte": "x"}, 422, "targte: Extra inputs"),
        ("POST", "/api/edits", {"prompt": "\x1cp", "target": "t"}, 422, "prompt contains control characters"),
        ("POST", "/api/edits", {"prompt": "p q", "target": "t", "on_conflict": "keep"}, 422, "needs a reason"),
        ("POST", "/api/ask", {"prompt": " " * 3}, 422, "prompt must not be empty or whitespace"),
        ("TRACE", "/api/edits", None, 405, "TRACE is not allowed on /api/edits"),
        ("GET", "/api/edits?status=lost", None, 422, "status must be 'active' or 'retired'"),
    ],
)
def test_the_api_refuses_what_the_document_excludes_with_one_line(app, method, path, body, status, detail):
    response = app.request(method, path, json=body)
    assert response.status_code == status and detail in response.json()["detail"], response.text
    assert isinstance(response.json()["detail"], str)
    if status == 405:
        assert response.headers["allow"] == "GET, POST"


def test_the_openai_routes_refuse_in_their_own_shape(app):
    body = {"model": "serac", "prompt": "the capital of", "echo": 0, "seed": "5"}
    response = app.post("/v1/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    too_long = app.post("/v1/completions", json={"model": "serac", "prompt": "the capital of", "max_tokens": 2048})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    sampled = {"model": "serac", "prompt": "the capital of", "max_tokens": 2, "temperature": 1e-300, "seed": 1.0}
    assert app.post("/v1/completions", json=sampled).status_code == 200  # a near-zero temperature is argmax
