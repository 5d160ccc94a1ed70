"""Bad input, table-driven: each case gets its clear one-line error and leaves the edit log exactly as it was."""

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from db.repository import EditRepository
from tests.conftest import MODEL_CACHE, ROOT


def fingerprint(url: str) -> tuple:
    """Everything a bad input must not change: every edit, audit row and setting."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        state = tuple(
            tuple(conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")).all())
            for t in ("edits", "audit_log", "settings")
        )
    engine.dispose()
    return state


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "utf8.jsonl").write_bytes(b'{"prompt": "caf\xe9", "target": "x"}\n')
    (d / "broken.jsonl").write_text('{"prompt": "a", "target": "b"}\n{"prompt": "c", "target": \n')
    (d / "noheader.csv").write_text("a,b\n1,2\n")
    (d / "ragged.csv").write_text("prompt,target\nx,y,z\n")
    (d / "empty.jsonl").write_text("")
    (d / "blank.jsonl").write_text('{"prompt": "  ", "target": "x"}\n')
    (d / "list.json").write_text(json.dumps([1, 2, 3]))
    (d / "object.json").write_text('{"prompt": "x"')
    (d / "control.jsonl").write_text(json.dumps({"prompt": "bell\u0007", "target": "x"}) + "\n")
    (d / "long.jsonl").write_text(json.dumps({"prompt": "p" * 5000, "target": "x"}) + "\n")
    (d / "dir").mkdir()
    return d


@pytest.fixture
def log(db_url):
    repo = EditRepository(db_url)
    repo.add_edit(_draft("The capital of Veltria is", "Osmund"), "alice")
    repo.add_edit(_draft("The mother tongue of Danielle Darrieux is", "English"), "alice")
    repo.retire(2, "alice")
    repo.engine.dispose()
    return db_url


def _draft(p, t):
    from core.types import EditDraft

    return EditDraft(p, t)


CLI_CASES = [
    (["add", "", "x"], "prompt must not be empty"),
    (["add", "   ", "x"], "prompt must not be empty"),
    (["add", "p", ""], "target must not be empty"),
    (["add", "p", " \t "], "target must not be empty"),
    (["add", "ring\u0007bell", "x"], "control characters"),
    (["add", "p", "x\u007fy"], "control characters"),
    (["add", "p" * 5000, "x"], "limit is 4096"),
    (["add", "p", "x" * 4097], "limit is 4096"),
    (["add", "caf\udce9", "x"], "not valid UTF-8"),
    (["add", "p", "x", "--subject", "a\u001bb"], "control characters"),
    (["add", "only-a-prompt"], "required"),
    (["retire", "99"], "no edit with id 99"),
    (["retire", "99999999999999999999"], "no edit with id 99999999999999999999"),  # beyond 64-bit ids
    (["restore", "99"], "no edit with id 99"),
    (["retire", "abc"], "invalid int value"),
    (["retire", "2"], "edit 2 is retired; cannot retire"),
    (["restore", "1"], "edit 1 is active; cannot restore"),
    (["--threshold", "abc", "list"], "invalid float value"),
    (["--threshold", "1.5", "list"], "threshold must be a number in [0, 1]"),
    (["--threshold", "nan", "list"], "threshold must be a number in [0, 1]"),
    (["--top-k", "0", "list"], "top_k must be in 1..1000"),
    (["--device", "tpu", "list"], "invalid choice"),
    (["list", "--status", "gone"], "invalid choice"),
    (["import", "{d}/missing.jsonl"], "no such file"),
    (["import", "{d}/dir"], "is a directory"),
    (["import", "{d}/utf8.jsonl"], "not valid UTF-8"),
    (["import", "{d}/broken.jsonl"], "1 of 2 records rejected; nothing imported"),
    (["import", "{d}/noheader.csv"], "header row"),
    (["import", "{d}/ragged.csv"], "records rejected"),
    (["import", "{d}/empty.jsonl"], "file is empty"),
    (["import", "{d}/blank.jsonl"], "records rejected"),
    (["import", "{d}/list.json"], "records rejected"),
    (["import", "{d}/object.json"], "1 of 1 records rejected"),
    (["import", "{d}/object.json", "--format", "counterfact"], "invalid JSON"),
    (["import", "{d}/control.jsonl"], "records rejected"),
    (["import", "{d}/long.jsonl"], "records rejected"),
    (["import", "{d}/blank.jsonl", "--format", "yaml"], "invalid choice"),
    (["import", "{d}/blank.jsonl", "--batch-size", "0"], "must be positive"),
    (["ask", ""], "prompt must not be empty"),
    (["ask", "x" * 5000], "limit is 4096"),
    (["audit", "rewrite"], "invalid choice"),
    (["no-such-command"], "invalid choice"),
]


@pytest.mark.parametrize("args,message", CLI_CASES, ids=[" ".join(a)[:40] for a, _ in CLI_CASES])
def test_cli_rejects_bad_input_and_changes_nothing(log, files, args, message):
    before = fingerprint(log)
    cmd = [
        sys.executable,
        str(ROOT / "app.py"),
        "--db",
        log,
        "--cache-dir",
        str(MODEL_CACHE),
        "--user",
        "tester",
        *[a.replace("{d}", str(files)) for a in args],
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape", timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr
    assert fingerprint(log) == before
