"""PostgreSQL stopped and started again under a load run against the real server (`python app.py` on a private
cluster, tests/pg_private.py): clear 503s while it is down, never a 500, every acknowledged add in the log
afterwards, and the server answering again by itself once the database is back. Slow: the server loads its models.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from db.repository import EditRepository
from tests.live_server import launch
from tests.pg_private import private_cluster

pytestmark = pytest.mark.slow
CLIENTS = 4


def _load(url: str, token: str, stop: threading.Event, results: list, client: int) -> None:
    """Add edits one after another until told to stop; keep (status, body) of each answer."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        n = 0
        while not stop.is_set():
            body = {"prompt": f"Load client {client} wrote fact number {n} as", "target": f"value {client}-{n}"}
            try:
                answer = http.post("/api/edits", json={**body, "on_conflict": "keep", "reason": "load run"})
                results.append((answer.status_code, answer.json(), body))
            except httpx.HTTPError as exc:  # no answer at all: not acknowledged
                results.append((None, str(exc), body))
            n += 1


def test_postgresql_stopped_under_load_loses_no_acknowledged_edit_and_recovers(tmp_path):
    with private_cluster() as pg, launch(tmp_path, db_url=pg.url) as server:
        stop, results = threading.Event(), []
        threads = [
            threading.Thread(target=_load, args=(server.url, server.curator_token, stop, results, c))
            for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        time.sleep(4)
        pg.stop()
        time.sleep(4)
        pg.start()
        time.sleep(6)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        statuses = [r[0] for r in results]
        acked = {r[1]["edit"]["id"]: r[2] for r in results if r[0] == 201}
        refused = [r[1]["detail"] for r in results if r[0] == 503]
        print(f"\noutage run: {len(results)} adds, {len(acked)} acknowledged, {len(refused)} refused with 503")
        assert set(statuses) <= {201, 503}, sorted(set(map(str, statuses)))
        assert refused and all("the edit log's database is unavailable" in d for d in refused), refused[:3]
        first_down, last_down = statuses.index(503), len(statuses) - 1 - statuses[::-1].index(503)
        assert 201 in statuses[:first_down] and 201 in statuses[last_down:], "saved before, and again by itself after"
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.curator_token}"}) as http:
            again = http.post("/api/edits", json={"prompt": "After the outage, the log says", "target": "recovered"})
            assert again.status_code == 201, again.text
        repo = EditRepository(pg.url)
        stored = {e.id: e for e in repo.list_edits()}
        print(f"outage run: {len(stored)} stored after recovery")
        assert all(i in stored and stored[i].prompt == body["prompt"] for i, body in acked.items())
        assert repo.verify_audit().ok
        repo.engine.dispose()
