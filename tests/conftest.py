"""Shared fixtures. All state lives in temp folders; models load offline, once per test session.

- `tiny_embedder`: a real bag-of-words hashing embedder (no weights) for fast memory/router tests.
- `default_config` / `real_editor`: the embedded default models (SmolLM2 + MiniLM), loaded once; each
  `real_editor` gets a fresh, empty memory around the shared weights.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from core.config import SeracConfig

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SERAC_SHARED_DATA", ROOT.parent / "shared" / "data"))  # the benchmarks, read in place
MODEL_CACHE = Path(os.environ.get("SERAC_CACHE_DIR", ROOT / ".cache" / "models"))


def pytest_configure(config):
    """Offline model loading: set before collection, because huggingface_hub reads these when it is first
    imported (a test module's imports can do that)."""
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session", autouse=True)
def untrained_default_parts():
    """Most tests exercise the machinery on the untrained fallback (fast to load, independent of the shipped
    weights): app.py and its subprocesses see no shipped parts. tests/test_shipped_parts.py runs the real
    default by naming models/ itself. Session-scoped and autouse, so it is in place before the live server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERAC_MODELS_DIR", str(ROOT / "tests" / "no-models"))
        yield


class HashingEmbedder:
    """Bag of lower-cased words hashed into `dim` buckets, L2-normalised: a real, tiny Embedder."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.identity = f"hashing-{dim}"

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture
def tiny_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'edits.sqlite'}"


@pytest.fixture(scope="session")
def default_config(tmp_path_factory) -> SeracConfig:
    db = tmp_path_factory.mktemp("db") / "session.sqlite"
    return SeracConfig(device="cpu", cache_dir=MODEL_CACHE, db_url=f"sqlite:///{db}")


@pytest.fixture
def real_editor(default_config):
    """A SeracEditor on the real default models (weights shared across tests), with an empty memory."""
    from core.loading import build_editor

    return build_editor(default_config)


@pytest.fixture
def counterfact_slice() -> list[dict]:
    import json

    return json.loads((DATA / "counterfact" / "val.json").read_text())[:20]


def _fresh_postgres_url(admin_url: str) -> tuple[str, str]:
    """Create an empty database on the test server; returns (its URL, its name)."""
    import uuid

    import sqlalchemy as sa

    name = f"serac_t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def _drop_postgres(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request, tmp_path):
    """A factory of fresh, empty edit logs, on SQLite and on PostgreSQL (SERAC_TEST_PG_URL, set by
    `make test`); the PostgreSQL databases are dropped afterwards."""
    admin = os.environ.get("SERAC_TEST_PG_URL")
    if request.param == "postgresql" and not admin:
        if os.environ.get("CI"):
            pytest.fail("SERAC_TEST_PG_URL is not set; CI must run PostgreSQL (scripts/start-postgres.sh)")
        pytest.skip('no PostgreSQL test server (run `eval "$(bash scripts/start-postgres.sh)"`)')
    made: list[str] = []

    def fresh() -> str:
        if request.param == "sqlite":
            made.append(f"edits-{len(made) + 1}.sqlite")
            return f"sqlite:///{tmp_path / made[-1]}"
        url, name = _fresh_postgres_url(admin)
        made.append(name)
        return url

    yield fresh
    for name in made if request.param == "postgresql" else ():
        _drop_postgres(admin, name)


@pytest.fixture
def any_db_url(fresh_db_url):
    """A fresh, empty edit log on SQLite and on PostgreSQL."""
    return fresh_db_url()


# One real server (python app.py in a subprocess) shared by the browser tests (tests/e2e) and the API tests.
from tests.live_server import live_server  # noqa: E402,F401
