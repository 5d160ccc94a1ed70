"""Abuse and limits on a real server (python app.py, real HTTP): one viewer floods /api/ask and /v1 answers while
a curator adds edits; the adds are saved while the flood goes on, the flood gets 429s with Retry-After beyond the
per-user limits, and no request gets a 5xx. Uploads live in the server's own folder, which is gone after shutdown.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.live_server import launch

pytestmark = [
    pytest.mark.models,
    pytest.mark.slow,  # about 45 s of flooding a real server; tests/test_limits.py checks the same limits in-process
]
FLOODERS = 8
ADDS = [
    ("The mother tongue of Danielle Darrieux is", "English"),
    ("The headquarters of the Veltria Shipping Company are in", "Osmund"),
    ("The violin maker Ferro Lanzani was born in", "Cremona"),
]
LIMITS = ["--heavy-queue", "6", "--heavy-per-user", "2", "--heavy-per-minute", "60", "--heavy-burst", "8"]


def _flood(url: str, token: str, stop: threading.Event, seen: list) -> None:
    """Ask and complete in turn until stopped; keep (status, Retry-After, body, time) of each answer."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        n = 0
        while not stop.is_set():
            n += 1
            if n % 2:
                r = http.post("/api/ask", json={"prompt": f"The capital of country {n} is"})
            else:
                r = http.post("/v1/completions", json={"model": "serac", "prompt": "Water is", "max_tokens": 4})
            seen.append((r.status_code, r.headers.get("Retry-After"), r.text, time.monotonic()))


def test_a_flood_of_probes_gets_429s_and_never_stalls_a_curators_adds(tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    temp = tmp_path / "temp"
    with launch(folder, extra_args=[*LIMITS, "--temp-dir", str(temp)]) as server:
        stop, seen = threading.Event(), []
        flooders = [
            threading.Thread(target=_flood, args=(server.url, server.viewer_token, stop, seen), daemon=True)
            for _ in range(FLOODERS)
        ]
        for thread in flooders:
            thread.start()
        try:
            while len(seen) < FLOODERS:  # the flood is on
                time.sleep(0.05)
            added = _curator_adds(server)
            after_adds = len(seen)
            while len(seen) < after_adds + FLOODERS:  # the flood goes on after the adds: they did not wait for it
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in flooders:
                thread.join(180)
        _streams_give_their_place_back(server)
        _uploads_live_in_the_servers_folder(server, temp)
    assert not list(temp.glob("serac-files-*")), "the server's upload folder must be gone after shutdown"

    statuses = [status for status, *_ in seen]
    print(
        f"flood: {len(statuses)} requests, {statuses.count(200)} answered, {statuses.count(429)} got 429; adds: {added}"
    )
    assert not [s for s in statuses if s >= 500], f"5xx during the flood: {statuses}"
    assert set(statuses) <= {200, 429} and statuses.count(200) > 0 and statuses.count(429) > 0
    for status, retry_after, body, _ in seen:
        if status == 429:
            assert int(retry_after) >= 1
            assert "probes or answers" in body and "try again in" in body
    assert [status for status, _ in added] == [201, 201, 201]
    first_add, last_add = min(at for _, at in added), max(at for _, at in added)
    assert any(at < first_add for *_, at in seen) and any(at > last_add for *_, at in seen)


def _curator_adds(server) -> list[tuple[int, float]]:
    headers = {"Authorization": f"Bearer {server.curator_token}"}
    out = []
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:
        for prompt, target in ADDS:
            body = {"prompt": prompt, "target": target}
            r = http.post("/api/edits", json=body)
            out.append((r.status_code, time.monotonic()))
            assert r.status_code == 201, r.text
    return out


def _streams_give_their_place_back(server) -> None:
    """A stream holds one of its user's two places while it runs and gives it back when it ends (or is left): three
    streams one after another, one left after its first event, then asks, all answered."""
    headers = {"Authorization": f"Bearer {server.curator_token}"}
    body = {"model": "serac", "prompt": "Water is", "max_tokens": 4, "stream": True}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:
        for n in range(3):
            with http.stream("POST", "/v1/completions", json=body) as r:
                assert r.status_code == 200
                lines = r.iter_lines()
                assert next(lines).startswith("data: ")
                if n:  # read to the end; the first one is left after its first event
                    assert "data: [DONE]" in list(lines)
        time.sleep(1)  # the server notices the left stream
        for _ in range(3):
            assert http.post("/api/ask", json={"prompt": "Water is"}).status_code == 200


def _uploads_live_in_the_servers_folder(server, temp) -> None:
    """A file uploaded through the UI's upload route lands in the server's own folder under --temp-dir."""
    [root] = list(temp.glob("serac-files-*"))
    before = [p for p in root.rglob("*") if p.is_file()]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        login = http.post("/login", data={"username": server.curator[0], "password": server.curator[1]})
        assert login.status_code == 200, login.text
        r = http.post("/gradio_api/upload", files={"files": ("edits.jsonl", b'{"prompt": "p", "target": "t"}\n')})
        assert r.status_code == 200, r.text
        [path] = r.json()
    after = [p for p in root.rglob("*") if p.is_file()]
    assert path.startswith(str(root)) and len(after) == len(before) + 1
