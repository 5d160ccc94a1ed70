"""Property-based fuzzing of the whole HTTP surface (every /api and /v1 operation) from the server's own OpenAPI
document, with schemathesis's engine and every check it has (`schemathesis run --checks all`): no 5xx, each status
documented, each response valid against its schema, schema-valid requests accepted and schema-invalid ones refused,
undeclared methods answered 405 with Allow, auth enforced. Anonymous, as a viewer and as a curator.

The app is the real one (webapp.server.create_server: API, OpenAI routes, Gradio, origin guard, body guards) served
in-process over ASGI, on a SQLite edit log and the tiny models of tests/tiny_models.py; afterwards `app.py audit
verify` must pass on that database. The runs are reproducible: a fixed seed, derandomized. Each run writes its
figures (cases, statuses, failures) to artifacts/fuzz/ and prints them. The bounded run is part of the default
suite; `-m slow` runs a longer one.

Two refusals of schema-valid requests are allowed, because no schema can say them: a prompt that does not fit
the model's context with max_tokens (400, OpenAI's code `context_length_exceeded`: it depends on the tokenizer),
and an Idempotency-Key used before with another body (422: it depends on an earlier request).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core.config import SeracConfig
from db.accounts import AccountRepository
from db.repository import EditRepository
from services.services import Services
from tests.tiny_models import save_tiny_lm, tiny_editor
from webapp.auth import UserStore
from webapp.server import create_server

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "artifacts" / "fuzz"
SEED = 16
WHO = ("anonymous", "viewer", "curator")
CONTEXT = 64  # the tiny LM's context in tokens: generation stays short, and max_tokens past it is a real 400
# the bounded run: anonymous and viewer requests through generated cases; the curator's also through the coverage
# phase (each field's edge values, missing and wrong-typed fields, undeclared methods). The slow run: every phase for
# everyone, stateful sequences (an edit created, then read, retired, restored, changed) included.
BOUNDED_PHASES = {"anonymous": ("fuzzing",), "viewer": ("fuzzing",), "curator": ("coverage", "fuzzing")}
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


@schemathesis.check
def positive_data_accepted(ctx, response, case):
    """schemathesis's positive_data_acceptance, less the two refusals no schema can state (see the module doc)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if _unstatable_refusal(response.status_code, response.text):
            return None
        raise


def _unstatable_refusal(status: int, text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    if status == 400 and isinstance(body.get("error"), dict):
        return body["error"].get("code") == "context_length_exceeded"
    return status == 422 and "Idempotency-Key" in str(body.get("detail")) and "already used" in str(body["detail"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The real app in-process on a fresh SQLite edit log and the tiny models; tokens for a viewer and a curator."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.sqlite'}"
    config = json.loads((save_tiny_lm(folder / "lm") / "config.json").read_text())
    (folder / "lm" / "config.json").write_text(json.dumps(config | {"max_position_embeddings": CONTEXT}))
    services = Services(SeracConfig(db_url=url, device="cpu"), EditRepository(url), tiny_editor(folder / "lm"))
    users = UserStore(AccountRepository(url))
    users.set_user("alice", "curator", "alice-password-1")
    users.set_user("victor", "viewer", "victor-password-1")
    tokens = {"anonymous": None, "viewer": users.create_token("victor"), "curator": users.create_token("alice")}
    return create_server(services, users), tokens, url


def fuzz(app, token: str | None, max_examples: int, label: str, phases=ALL_PHASES) -> dict:
    """One engine run over every operation; its figures (also written to artifacts/fuzz/LABEL.json)."""
    config = {
        "seed": SEED,
        "request-timeout": 120,  # a busy 2-core machine; the tiny model answers in well under a second alone
        "generation": {"max-examples": max_examples, "deterministic": True},
        "checks": {"positive_data_acceptance": {"enabled": False}},  # positive_data_accepted stands in for it
        "phases": {name: {"enabled": name in phases} for name in ALL_PHASES},
    }
    if token:
        config["headers"] = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_dict(config))
    statuses, failures, errors, operations, phases = Counter(), Counter(), [], set(), Counter()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            _count(event.recorder, statuses, failures, operations)
            phase = getattr(event, "phase", "fuzz")  # a FuzzScenarioFinished (the `fuzz` command's) names none
            phases[str(getattr(phase, "value", phase))] += len(event.recorder.interactions)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or getattr(event, "exception", "")))
    figures = {
        "who": label,
        "cases": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "phases": dict(phases),
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "operations": sorted(operations),
        "failures": [{"check": k[0], "operation": k[1], "example": k[2], "count": v} for k, v in failures.items()],
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
    }
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{label}.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    print(f"fuzz {label}: {figures['cases']} cases in {figures['seconds']} s, {figures['statuses']}, {dict(phases)}")
    return figures


def _count(recorder, statuses: Counter, failures: Counter, operations: set) -> None:
    """Tally one scenario: each response's status, and each failed check (with one example request)."""
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            statuses[interaction.response.status_code] += 1
            operations.add(recorder.cases[case_id].value.operation.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status.name == "FAILURE":
                case = recorder.cases[case_id].value
                what = check.failure_info.failure.title if check.failure_info else ""
                example = f"{case.method} {case.formatted_path} body={str(case.body)[:200]} -> {what}"
                failures[(check.name, case.operation.label, example)] += 1


def _audit_verify(url: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "app.py"), "--db", url, "audit", "verify"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _run_all(served, max_examples: int, prefix: str, phases: dict | None = None) -> list[dict]:
    app, tokens, url = served
    runs = [fuzz(app, tokens[who], max_examples, f"{prefix}-{who}", (phases or {}).get(who, ALL_PHASES)) for who in WHO]
    for run in runs:
        assert not run["errors"], run["errors"]
        assert run["server_errors"] == 0, run["failures"]
        assert not run["failures"], json.dumps(run["failures"], indent=1, ensure_ascii=False)
    # every documented operation was tried, under /api and /v1 alike
    assert sum(1 for op in runs[-1]["operations"] if " /api/" in op or " /v1/" in op) >= 12
    checked = _audit_verify(url)
    assert checked.returncode == 0 and "audit log intact" in checked.stdout, checked.stderr
    return runs


def test_fuzzing_every_operation_finds_no_server_error_and_no_contract_failure(served):
    runs = _run_all(served, max_examples=6, prefix="bounded", phases=BOUNDED_PHASES)
    assert sum(r["cases"] for r in runs) >= 600  # a real run, not a handful
    assert runs[-1]["statuses"].get("201", 0) >= 1  # the curator's run saved edits (audit verify judged them)


@pytest.mark.slow
def test_a_longer_fuzzing_run(served):
    runs = _run_all(served, max_examples=60, prefix="long")
    assert sum(r["cases"] for r in runs) >= 3000
