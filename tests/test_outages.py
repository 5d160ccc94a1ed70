"""The edit log's database failing under the app: PostgreSQL stopped, locked or slow; a SQLite file that is full or
read-only. A user sees one clear line (HTTP 503 or 507), nothing is acknowledged that was not written, and the app
recovers by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from cli.context import open_repository
from core.config import SeracConfig
from core.errors import DatabaseUnavailable
from core.types import EditDraft
from db.accounts import AccountRepository
from db.engine import read_transaction
from db.repository import EditRepository
from services.services import Services
from tests.conftest import ROOT, _drop_postgres, _fresh_postgres_url
from tests.live_server import free_port
from tests.pg_private import private_cluster
from tests.tiny_models import tiny_editor
from webapp.api import install_api
from webapp.auth import UserStore
from webapp.server import gradio_login


@pytest.fixture
def pg_url():
    """A fresh database on the shared test server (SERAC_TEST_PG_URL), dropped afterwards."""
    admin = os.environ.get("SERAC_TEST_PG_URL")
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("SERAC_TEST_PG_URL is not set; CI must run PostgreSQL (scripts/start-postgres.sh)")
        pytest.skip('no PostgreSQL test server (run `eval "$(bash scripts/start-postgres.sh)"`)')
    url, name = _fresh_postgres_url(admin)
    yield url
    _drop_postgres(admin, name)


def _prompts(repo: EditRepository) -> list[str]:
    return [e.prompt for e in repo.list_edits()]


def test_a_session_holding_the_edits_table_fails_another_instances_write_within_the_lock_timeout(pg_url):
    repo = open_repository(SeracConfig(db_url=pg_url, db_lock_timeout_ms=1000))
    repo.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")
    stuck = sa.create_engine(pg_url)
    with stuck.connect() as session:
        session.begin()
        session.exec_driver_sql("LOCK TABLE edits IN ACCESS EXCLUSIVE MODE")  # a session that never finishes
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="locked by another session past the lock timeout; nothing was"):
            repo.add_edit(EditDraft("The capital of Ostrel is", "Brenn"), "alice")
        assert time.monotonic() - start < 5, "the write failed within the 1 s lock timeout instead of hanging"
        session.rollback()
    with stuck.connect() as session:  # another instance stuck in the middle of a write, holding the write lock
        session.begin()
        session.exec_driver_sql("SELECT pg_advisory_xact_lock(x'5E7AC'::int)")
        with pytest.raises(DatabaseUnavailable, match="locked by another session"):
            repo.add_edit(EditDraft("The capital of Ostrel is", "Brenn"), "bob")
        session.rollback()
    stuck.dispose()
    repo.add_edit(EditDraft("The capital of Ostrel is", "Brenn"), "alice")
    assert _prompts(repo) == ["The capital of Veltria is", "The capital of Ostrel is"] and repo.verify_audit().ok
    repo.engine.dispose()


def test_statement_and_lock_timeouts_reach_every_session(pg_url):
    default = EditRepository(pg_url)
    with read_transaction(default.engine) as conn:
        shown = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("statement_timeout", "lock_timeout")]
    assert shown == ["30s", "10s"]
    default.engine.dispose()
    short = open_repository(SeracConfig(db_url=pg_url, db_statement_timeout_ms=300, db_lock_timeout_ms=2500))
    with read_transaction(short.engine) as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "2500ms"
    with (
        pytest.raises(DatabaseUnavailable, match="ran past its statement timeout"),
        read_transaction(short.engine) as c,
    ):
        c.exec_driver_sql("SELECT pg_sleep(3)")
    short.engine.dispose()


def test_a_database_that_does_not_answer_is_one_line_not_a_trace():
    start = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match=r"^the edit log's database is unavailable; nothing was saved"):
        EditRepository(f"postgresql+psycopg://serac@127.0.0.1:{free_port()}/serac")
    assert time.monotonic() - start < 10


SECOND = {"prompt": "Danielle Darrieux speaks", "target": "English"}  # no word in common with the first edit
DOWN = "the edit log's database is unavailable; nothing was changed (retry when it is back)"


def _api(url: str, tmp_path_factory) -> tuple[TestClient, dict, Services]:
    users = UserStore(AccountRepository(url))
    users.set_user("alice", "curator", "alice-password-1")
    headers = {"Authorization": f"Bearer {users.create_token('alice')}"}
    services = Services(
        SeracConfig(db_url=url, device="cpu", sync_interval_ms=0),
        EditRepository(url),
        tiny_editor(tmp_path_factory.getbasetemp() / "tiny-lm"),
    )
    server = FastAPI()
    install_api(server, services, users)
    return TestClient(server, raise_server_exceptions=False), headers, services


def test_postgresql_stopped_gives_503_and_the_api_recovers_by_itself(tmp_path_factory):
    with private_cluster() as pg:
        http, headers, services = _api(pg.url, tmp_path_factory)
        first = http.post(
            "/api/edits", json={"prompt": "The capital of Veltria is", "target": "Osmund"}, headers=headers
        )
        assert first.status_code == 201, first.text
        login_ui = gradio_login(UserStore(AccountRepository(pg.url)))
        pg.stop()
        for method, path, body in [
            ("POST", "/api/edits", SECOND),
            ("GET", "/api/edits", None),
            ("POST", f"/api/edits/{first.json()['edit']['id']}/retire", {}),
        ]:
            down = http.request(method, path, json=body, headers=headers)
            assert down.status_code == 503, (path, down.status_code, down.text)
            assert down.json() == {"detail": DOWN}, path
        with pytest.raises(HTTPException) as login:  # the UI's login says the same, not "Incorrect Credentials"
            asyncio.run(login_ui("alice", "alice-password-1"))
        assert login.value.status_code == 503
        assert login.value.detail.startswith("the edit log's database is unavailable; nothing was")
        pg.start()
        again = http.post("/api/edits", json=SECOND, headers=headers)
        assert again.status_code == 201, again.text
        listed = http.get("/api/edits", headers=headers).json()
        assert [e["prompt"] for e in listed["edits"]] == ["The capital of Veltria is", SECOND["prompt"]]
        assert services.check_consistency().ok and services.repository.verify_audit().ok
        services.repository.engine.dispose()


SQLITE_SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[3])
    from core.errors import EditorError
    from core.types import EditDraft
    from db.repository import EditRepository

    mode, folder = sys.argv[1], sys.argv[2]
    url = f"sqlite:///{folder}/edits.sqlite"
    repo = EditRepository(url)
    acked = [repo.add_edit(EditDraft(f"The motto of town {i} is", "m"), "alice").id for i in range(3)]
    if mode == "read-only":  # the folder becomes read-only: a server (re)opening the log now cannot write it
        subprocess.run(["mount", "--bind", folder, folder], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", folder], check=True)
        repo = EditRepository(url)
    error = None
    for i in range(3, 10000):
        try:
            acked.append(repo.add_edit(EditDraft(f"The motto of town {i} is", "m", notes="n" * 3000), "alice").id)
        except EditorError as exc:
            error = {"type": type(exc).__name__, "status": exc.http_status, "detail": str(exc)}
            break
    stored = [e.id for e in repo.list_edits()]
    print(json.dumps({"acked": acked, "stored": stored, "error": error, "verified": repo.verify_audit().ok}))
    """
)


@pytest.mark.parametrize(
    "mode, status, detail",
    [
        ("full", 507, "the edit log's disk is full; nothing was saved (free some space, then retry)"),
        ("read-only", 503, "the edit log is read-only (its file or folder cannot be written); nothing was saved"),
    ],
    ids=["full", "read-only"],
)
def test_a_full_or_read_only_sqlite_log_refuses_clearly_and_acknowledges_only_what_it_wrote(
    mode, status, detail, tmp_path
):
    """In a private mount namespace (unshare): the log on a 300 KiB tmpfs that fills up, or on a mount remounted
    read-only, which root cannot write either."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux unshare is not installed")
    (tmp_path / "log").mkdir()
    (tmp_path / "run.py").write_text(SQLITE_SCRIPT)
    namespace = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "--map-root-user", "--mount"]
    shell = f'mount -t tmpfs -o size=300k tmpfs "$1" && exec "{sys.executable}" "$2" {mode} "$1" "{ROOT}"'
    done = subprocess.run(
        [*namespace, "sh", "-c", shell, "sh", str(tmp_path / "log"), str(tmp_path / "run.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 and "mount" in done.stderr and "permission" in done.stderr.lower():
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["error"] == {
        "type": "StorageFull" if mode == "full" else "DatabaseUnavailable",
        "status": status,
        "detail": report["error"]["detail"],
    }
    assert report["error"]["detail"].startswith(detail)
    assert report["stored"] == report["acked"] and len(report["acked"]) >= 3 and report["verified"]
