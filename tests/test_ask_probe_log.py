"""POST /api/ask with --log-probes on a real HTTP server (uvicorn in a thread, tiny real parts, a real SQLite log):
the answer does not wait for the probe log's write, and the record still lands in the log soon after.

The proof: another connection holds the log's write lock (BEGIN IMMEDIATE) while the client asks. A write on the
request path would wait for that lock (SQLite's busy timeout is 30 s) and the client would time out; written after
the response, the answer arrives at once and the row appears once the lock is let go."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

from core.config import SeracConfig
from core.types import EditDraft
from db.accounts import AccountRepository
from db.repository import EditRepository
from services.services import Services
from tests.live_server import free_port
from tests.tiny_models import tiny_editor
from webapp.api import install_api
from webapp.auth import UserStore

APPEARS_WITHIN_S = 10.0


def _serve(app: FastAPI) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    return server, f"http://127.0.0.1:{port}"


def test_ask_answers_while_the_log_is_locked_and_its_probe_row_lands_after(tmp_path):
    path = tmp_path / "log.sqlite"
    url = f"sqlite:///{path}"
    users = UserStore(AccountRepository(url))
    users.set_user("victor", "viewer", "victor-password-1")
    headers = {"Authorization": f"Bearer {users.create_token('victor')}"}
    config = SeracConfig(db_url=url, device="cpu", log_probes=True)
    services = Services(config, EditRepository(url), tiny_editor(tmp_path / "tiny-lm"))
    services.add_edits([EditDraft("the capital of veltria is", "osmund")], "alice", "add")
    app = FastAPI()
    install_api(app, services, users)
    server, base = _serve(app)
    locker = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # the log's write lock, held by someone else
        asked = httpx.post(f"{base}/api/ask", json={"prompt": "the capital of veltria is"}, headers=headers, timeout=15)
        assert asked.status_code == 200, asked.text
        assert asked.json()["route"] == "counterfactual"
        assert services.repository.recent_probes() == [], "nothing is written while the lock is held"
        locker.execute("COMMIT")
        deadline = time.monotonic() + APPEARS_WITHIN_S
        while not (probes := services.repository.recent_probes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [(p["query"], p["route"], p["actor"]) for p in probes] == [
            ("the capital of veltria is", "counterfactual", "victor")
        ]
    finally:
        locker.close()
        server.should_exit = True
