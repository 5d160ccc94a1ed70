"""The load test (scripts/load_test.py) against a real server of its own (tests/live_server.py) on 127.0.0.1:
8 concurrent API clients, each with its own curator token, adding edits with retires, restores, target
changes, reads and asks interleaved; afterwards nothing is lost, the index matches the log, every audit row
is there and the chain verifies, and no request got a 5xx.

The default run does 8 x 50 edits on SQLite and on PostgreSQL (when SERAC_TEST_PG_URL is set; about 40 s each
on a 2-core CPU); the full 8 x 500 of issue 6 takes several
minutes there, so it is marked slow: `.venv/bin/python -m pytest -m slow tests/test_load.py`, or run the
script, which prints the table and writes artifacts/load.json.
"""

from __future__ import annotations

import json

import pytest

from scripts.load_test import ROOT, load_test, load_users, table
from tests.live_server import launch

pytestmark = pytest.mark.models
CLIENTS = 8


def _run(tmp_path, edits: int, ask_clients: int, db_url: str | None = None) -> dict:
    with launch(tmp_path, load_users(CLIENTS), db_url) as server:
        report = load_test(server, CLIENTS, edits, ask_clients, max_seconds=1500)
    print(table(report))
    return report


def _assert_invariants(report: dict, edits: int) -> None:
    assert report["failures"] == [], table(report)
    assert report["edits_lost"] == 0 and report["errors"] == 0 and report["server_errors_5xx"] == 0
    stats = report["stats"]
    assert stats["edits"]["total"] == CLIENTS * edits
    assert stats["audit"]["by_action"]["add"] == CLIENTS * edits
    assert stats["index"]["size"] == stats["edits"]["active"] and stats["index"]["consistent"]
    assert stats["edits"]["retired"] > 0 and report["by_kind"]["restore"]["count"] > 0
    assert report["by_kind"]["change"]["count"] > 0 and report["by_kind"]["read"]["count"] > 0
    assert "hash chain verified" in report["audit_verify"]


@pytest.mark.slow  # about 35 s a database; tests/test_concurrency.py and test_add_batcher.py cover writers by default
def test_eight_clients_fifty_edits_each_lose_nothing(tmp_path, any_db_url):
    """On SQLite and on PostgreSQL (the shared log of several instances)."""
    _assert_invariants(_run(tmp_path, 50, ask_clients=1, db_url=any_db_url), 50)


@pytest.mark.slow
def test_eight_clients_five_hundred_edits_each_lose_nothing(tmp_path):
    report = _run(tmp_path, 500, ask_clients=CLIENTS)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "load.json").write_text(json.dumps(report, indent=2))
    _assert_invariants(report, 500)
