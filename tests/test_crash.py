"""SIGKILL an import at random points, three times: every committed batch survives, none is half there."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from db.repository import EditRepository
from services.services import Services
from tests.conftest import ROOT
from tests.tiny_models import tiny_editor

LINES, BATCH = 30_000, 100


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "edits.jsonl"
    with path.open("w") as f:
        for i in range(LINES):
            f.write(json.dumps({"prompt": f"Synthetic prompt number {i} is", "target": f"value {i}"}) + "\n")
    return path


def _import_process(db_url, path):
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "--db",
        db_url,
        "--user",
        "importer",
        "import",
        str(path),
        "--batch-size",
        str(BATCH),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_first_batch(repo, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    start = repo.count_edits()
    while repo.count_edits() == start and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize(  # PostgreSQL's run (about 30 s) with -m slow; test_concurrency.py covers it
    "fresh_db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True
)
def test_killed_imports_leave_only_whole_batches(fresh_db_url, big_file, tmp_path_factory):
    """Each attempt imports into an empty log (so the conflict check has nothing to route against and the
    import starts writing at once) and is killed while it writes."""
    rng = random.Random(1234)
    for attempt in range(3):
        any_db_url = fresh_db_url()
        repo = EditRepository(any_db_url)
        before = repo.count_edits()
        proc = _import_process(any_db_url, big_file)
        _wait_for_first_batch(repo, proc)
        time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after = EditRepository(any_db_url)  # "restart": a new process would open the log like this
        added = after.count_edits() - before
        assert 0 < added < LINES and added % BATCH == 0, f"attempt {attempt}: {added} edits is not whole batches"
        assert len(after.audit_entries()) == after.count_edits(), "an edit without its audit row, or the reverse"
        assert after.verify_audit().ok
        services = Services(_config(any_db_url), after, tiny_editor(tmp_path_factory.getbasetemp() / "tiny-lm"))
        assert services.check_consistency().ok
        assert len(services.editor.memory) == after.count_edits()


def _config(url):
    from core.config import SeracConfig

    return SeracConfig(db_url=url, device="cpu")
