"""Abuse and limits, in process on tiny real models (tests/tiny_models.py) and real SQLite files: a write never
waits for the model under the write lock and goes ahead of queued probe sets; heavy reads are bounded and rated
per user (services.limits), and the UI says so in words; uploads and exports stay in the server's own folder
(webapp.files) and go by age, after use, and at shutdown."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from core.config import SeracConfig
from core.types import EditDraft
from db.repository import EditRepository
from services.limits import Busy, HeavyGate, RateLimited
from services.services import CHUNK, Services
from tests.conftest import HashingEmbedder
from tests.seen import seen
from tests.tiny_models import tiny_editor
from webapp.auth import User
from webapp.callbacks import audit as audit_cb
from webapp.callbacks import probe as probe_cb
from webapp.callbacks import scope_map as map_cb
from webapp.callbacks import threshold as threshold_cb
from webapp.files import AppFiles

VIEWER, CURATOR = User("victor", "viewer"), User("alice", "curator")
WAIT_S = 60  # generous bound for one step to happen on a loaded 2-core box; the assertions are about order


class RecordingEmbedder(HashingEmbedder):
    """The real hashing embedder, keeping each batch it encodes, in order (who got the model when)."""

    def __init__(self):
        super().__init__()
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return super().encode(texts)


@pytest.fixture
def services(tmp_path, tmp_path_factory):
    url = f"sqlite:///{tmp_path / 'edits.sqlite'}"
    config = SeracConfig(db_url=url, device="cpu", heavy_queue=3, heavy_per_user=2, heavy_per_minute=0)
    editor = tiny_editor(tmp_path_factory.getbasetemp() / "tiny-lm", embedder=RecordingEmbedder())
    built = Services(config, EditRepository(url), editor)
    built.add_edits([EditDraft(f"the capital of city {i} is", f"paris {i}") for i in range(8)], "alice")
    return built


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _thread(target) -> tuple[threading.Thread, list]:
    out: list = []

    def run():
        try:
            out.append(target())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


# ---- a write and the model ------------------------------------------------------------------------------
def test_a_write_waiting_for_the_model_does_not_hold_the_write_lock(services):
    """While a probe holds the model, an add waits for it outside the write lock: reads that need the lock (a
    sync, the consistency check) still run; once the model is free, the add is saved and indexed."""
    services.model_slot.acquire()  # a long probe set holds the model
    try:
        writer, out = _thread(lambda: services.add_edit(EditDraft("the mother tongue of osmund is", "french"), "alice"))
        _until(lambda: services.model_slot.waiting()[1] == 1, "the add waits for the model")
        assert services.write_lock.acquire(timeout=5), "the waiting add holds the write lock"
        services.write_lock.release()
        assert services.repository.count_edits() == 8  # not saved before its embedding is ready
    finally:
        services.model_slot.release()
    writer.join(WAIT_S)
    assert out and out[0].target == "french"
    assert services.check_consistency().ok and services.check_consistency().in_index == 9


def test_a_write_goes_ahead_of_queued_probe_sets(services):
    """Four probe sets (several chunks each) queue for the model before an add does; when the model comes free,
    the add's embedding is the first thing it computes, and the add is saved while the probe sets go on."""
    prompts = [f"where is the capital of city {i % 8} now" for i in range(3 * CHUNK)]
    new_prompt = "the mother tongue of danielle darrieux is"
    calls = services.editor.embedder.calls

    services.model_slot.acquire()  # a probe set holds the model
    try:
        readers = [_thread(lambda: services.route(prompts)) for _ in range(4)]
        _until(lambda: services.model_slot.waiting()[0] == 4, "the probe sets wait for the model")
        writer, out = _thread(lambda: services.add_edit(EditDraft(new_prompt, "english"), "alice"))
        _until(lambda: services.model_slot.waiting() == (5, 1), "the add waits too")
        mark = len(calls)
    finally:
        services.model_slot.release()
    for thread, _ in [*readers, (writer, out)]:
        thread.join(WAIT_S)
    assert calls[mark] == [new_prompt], "the add's embedding must come before the queued probe chunks"
    assert sorted(len(batch) for batch in calls[mark + 1 :]) == [CHUNK] * 12  # the probe sets, chunk by chunk
    assert all(len(decisions) == 3 * CHUNK for _, (decisions,) in readers)
    assert services.editor.memory.get(out[0].id) is not None  # saved and indexed


# ---- the gate -------------------------------------------------------------------------------------------
class Clock:
    """A real clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_users_rate_is_a_token_bucket_with_retry_after():
    clock = Clock()
    gate = HeavyGate(max_inflight=10, per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        with gate.admit("victor"):
            pass
    with pytest.raises(RateLimited) as refused:
        gate.enter("victor")
    assert refused.value.http_status == 429 and refused.value.headers == {"Retry-After": "1"}
    assert "too many probes, sweeps or answers from 'victor'" in str(refused.value)
    with gate.admit("alice"):  # another user's budget is their own
        pass
    clock.now += 1.0  # one per second comes back
    with gate.admit("victor"):
        pass
    assert gate.inflight == 0 and gate.refused == {"busy": 0, "rate": 1}


def test_the_bound_refuses_with_503_and_spends_no_rate():
    gate = HeavyGate(max_inflight=2, per_minute=60, burst=2, per_user=5, clock=Clock())
    gate.enter("alice")
    gate.enter("bob")
    with pytest.raises(Busy) as refused:
        gate.enter("victor")
    assert refused.value.http_status == 503 and int(refused.value.headers["Retry-After"]) >= 1
    gate.leave("alice")
    gate.enter("victor")  # a place came free
    gate.leave("bob")
    gate.enter("victor")  # and another: the refusal spent none of victor's two
    gate.leave("victor")
    with pytest.raises(RateLimited):  # now both are spent
        gate.enter("victor")


def test_one_user_at_once_is_capped_before_the_bound():
    gate = HeavyGate(max_inflight=10, per_minute=0, burst=1, per_user=2)
    gate.enter("victor")
    gate.enter("victor")
    with pytest.raises(RateLimited, match="'victor' has 2 probes or answers running or waiting"):
        gate.enter("victor")
    gate.enter("alice")  # others still get in
    gate.leave("victor")
    gate.enter("victor")
    assert gate.inflight == 3


def test_idle_users_are_forgotten():
    clock = Clock()
    gate = HeavyGate(max_inflight=10, per_minute=60, burst=5, clock=clock)
    for n in range(2000):
        with gate.admit(f"user{n}"):
            pass
        clock.now += 10.0  # long enough to refill a bucket
    assert len(gate._buckets) <= 257


# ---- what the UI says -----------------------------------------------------------------------------------
def test_the_ui_says_the_server_is_busy_and_runs_nothing(services):
    for user in ("alice", "bob", "carol"):
        services.heavy.enter(user)  # three probe sets running or waiting: the bound
    edit = services.repository.active_edits()[0]
    decision, base, edited, _, rows = probe_cb.probe_prompt(services, VIEWER, "the capital of city 1 is")
    assert seen(decision).startswith("Error: the server is busy with 3 probes or answers (limit 3); try again in")
    assert (base, edited, rows) == ("", "", [])
    summary, rows, _ = probe_cb.probe_edit(services, VIEWER, edit.id)
    assert "the server is busy" in seen(summary) and rows == []
    _, text, flips = threshold_cb.threshold_view(services, VIEWER, 0.4)
    assert "the server is busy" in seen(text) and flips == []
    _, pairs, note = map_cb.scope_map(services, VIEWER)
    assert "the server is busy" in seen(note) and pairs == []
    for user in ("alice", "bob", "carol"):
        services.heavy.leave(user)
    decision, *_ = probe_cb.probe_prompt(services, VIEWER, "the capital of city 1 is")
    assert decision.startswith("Asked:")


def test_the_ui_says_when_one_user_has_too_many_running(services):
    services.heavy.enter("victor")
    services.heavy.enter("victor")
    decision, *_ = probe_cb.probe_prompt(services, VIEWER, "the capital of city 1 is")
    assert seen(decision).startswith("Error: 'victor' has 2 probes or answers running or waiting (limit 2)")
    decision, *_ = probe_cb.probe_prompt(services, CURATOR, "the capital of city 1 is")
    assert decision.startswith("Asked:")  # alice is not held back by victor
    assert services.heavy.inflight == 2


# ---- files ----------------------------------------------------------------------------------------------
def test_exports_go_to_the_servers_folder_and_go_by_age_and_at_shutdown(services, tmp_path):
    files = AppFiles(tmp_path / "tmp", max_age_s=600)
    assert files.files() == []
    path, note = audit_cb.export_csv(services, CURATOR, into=files.export_path)
    assert note == "Exported 8 entries." and files.files() == [
        files.exports / path.split("/")[-2] / path.split("/")[-1]
    ]
    upload = files.gradio / "abc123" / "edits.jsonl"
    upload.parent.mkdir()
    upload.write_text('{"prompt": "p", "target": "t"}\n')
    assert len(files.files()) == 2
    assert files.sweep() == 0  # both are new
    old = time.time() - 601
    os.utime(path, (old, old))
    assert files.sweep() == 1 and files.files() == [upload]
    assert files.discard(upload) and files.files() == [] and not upload.parent.exists()
    asyncio.run(_serve_once(files))
    assert not files.root.exists()


async def _serve_once(files: AppFiles) -> None:
    async with files.swept():
        (files.exports / "late.csv").write_text("x")


def test_discard_never_deletes_outside_the_servers_folder(tmp_path):
    files = AppFiles(tmp_path / "tmp", max_age_s=600)
    outside = tmp_path / "precious.json"
    outside.write_text("{}")
    assert not files.discard(outside) and outside.exists()
    assert not files.discard(files.root / ".." / "precious.json") and outside.exists()
    assert not files.discard(files.root) and files.root.exists()
    files.close()
