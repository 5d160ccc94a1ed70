"""A real server for the browser, API and load tests: `python app.py` in a subprocess on a free port of 127.0.0.1,
with a temp edit log holding its users (curator alice, viewers victor and lockme, each with an API token).

`launch(folder, extra_users)` starts one and stops it on exit (the load script uses it too); the
`live_server` fixture is one shared per test session. The server's stdout and stderr go to `log_path`
(tests grep it for secrets).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 240
CURATOR, VIEWER = ("alice", "alice-password-1"), ("victor", "victor-password-1")
LOCKOUT = ("lockme", "lockme-password-1")  # a viewer only the login rate-limit test uses (it gets locked out)


@dataclass(frozen=True)
class LiveServer:
    url: str
    folder: Path
    curator: tuple[str, str]  # (name, password)
    viewer: tuple[str, str]
    curator_token: str
    viewer_token: str
    process: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)  # every user's token, by name
    db_url: str = ""  # the edit log it serves

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not up after {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def _accounts(db_url: str, extra_users: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """Create the users (alice, victor, lockme and extra (name, role, password)) in the server's edit log
    before it starts; returns a token per user."""
    from db.accounts import AccountRepository
    from webapp.auth import UserStore

    users = UserStore(AccountRepository(db_url))
    everyone = [
        (CURATOR[0], "curator", CURATOR[1]),
        (VIEWER[0], "viewer", VIEWER[1]),
        (LOCKOUT[0], "viewer", LOCKOUT[1]),
        *extra_users,
    ]
    for name, role, password in everyone:
        users.set_user(name, role, password)
    tokens = {name: users.create_token(name, "live server") for name, _, _ in everyone}
    users.accounts.engine.dispose()
    return tokens


@contextmanager
def launch(
    folder: Path,
    extra_users: Sequence[tuple[str, str, str]] = (),
    db_url: str | None = None,
    models_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Start `python app.py` on 127.0.0.1 with its log and edit log (unless db_url) in `folder`, the users
    created in that edit log first (`--users` names a file that does not exist: nothing to import);
    stop it on exit. `models_dir` (e.g. ROOT / "models") serves those trained parts; by default the
    tests' environment (tests/conftest.py) serves the untrained fallback. `extra_args` are more global options
    (e.g. --base-model openai:URL), `env` more environment variables (e.g. SERAC_BASE_API_KEY)."""
    db_url = db_url or f"sqlite:///{folder / 'live.sqlite'}"
    tokens = _accounts(db_url, extra_users)
    with start_app(folder, db_url, folder / "users.json", models_dir, extra_args, env) as (url, process):
        yield LiveServer(url, folder, CURATOR, VIEWER, tokens[CURATOR[0]], tokens[VIEWER[0]], process, tokens, db_url)


@contextmanager
def start_app(
    folder: Path,
    db_url: str,
    users_file: Path,
    models_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python app.py --db DB_URL --users USERS_FILE` on a free port, as it is (no users made for it), logging to
    folder/server.log; yields (its URL, the process) once it answers, and stops it on exit."""
    port, log = free_port(), folder / "server.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", **(env or {}))
    if models_dir is not None:
        env["SERAC_MODELS_DIR"] = str(models_dir)
    command = [sys.executable, str(ROOT / "app.py"), "--db", db_url, "--users", str(users_file)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu", *extra_args]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> LiveServer:
    """The server as a fresh clone runs it: the shipped trained parts in models/."""
    with launch(tmp_path_factory.mktemp("live"), models_dir=ROOT / "models") as server:
        yield server
