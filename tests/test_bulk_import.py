"""Bulk import at scale (services.imports, core/benchmarks/import_file.py, cli/bench_import.py): the grown
CounterFact file, the batched conflict check with its progress bars, the bar a terminal shows, and bench's
import phase, all on real files, real SQLite logs and the real `app.py import`."""

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest

from core.benchmarks.import_file import grown_records, write_import_file
from core.config import SeracConfig
from core.datasets import read_edit_file
from core.text import normalize_answer
from db.repository import EditRepository
from services.edit_log import EditLog
from services.imports import CHECK_BATCH, RejectedRecords, import_read
from tests.conftest import DATA, ROOT

VAL = DATA / "counterfact" / "val.json"  # 1,912 records: a 2,500-record file needs variants


class RecordedBar:
    """A real progress bar that keeps what it was told (desc, total, the updates)."""

    def __init__(self, bars: list, total: int = 0, desc: str = "", initial: int = 0, **_):
        self.desc, self.total, self.done, self.closed = desc, total, initial, False
        bars.append(self)

    def update(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        self.closed = True


def test_grown_file_is_counterfact_with_real_records_first_and_no_shared_prompt(tmp_path):
    path = write_import_file(tmp_path / "cf.json", VAL, 2500, seed=3)
    read = read_edit_file(path)
    assert read.unit == "record" and read.errors == [] and len(read.cases) == 2500
    source = json.loads(VAL.read_text())
    first = [case.edit.prompt for _, case in read.cases[:5]]
    assert first == [r["prompt"] for r in source[:5]]  # the real records come first, unchanged
    assert len({normalize_answer(case.edit.prompt) for _, case in read.cases}) == 2500
    variants = json.loads(path.read_text())[len(source) :]
    assert variants and all(r["subject"] in r["prompt"] and r["subject"] in r["rephrase_prompt"] for r in variants)
    assert all(r["case_id"] >= 1_000_000 for r in variants)
    assert write_import_file(tmp_path / "again.json", VAL, 2500, seed=3).read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="at least 2"):
        list(grown_records(source[:1], 10))


def test_batched_check_finds_contradictions_across_batches_and_moves_both_bars(tmp_path, db_url):
    """Record 1 and a record past the first check batch share a prompt with different targets: both are named,
    nothing is written unless --skip-invalid; then every other record is saved with its two probe prompts."""
    records = list(grown_records(json.loads(VAL.read_text()), 300))
    twin = dict(records[0], prompt=records[0]["prompt"].upper() + "  ", target_new="Atlantis")
    records.insert(CHECK_BATCH + 10, twin)
    path = tmp_path / "cf.json"
    path.write_text(json.dumps(records))
    log = EditLog(SeracConfig(db_url=db_url), EditRepository(db_url))
    with pytest.raises(RejectedRecords) as refused:
        import_read(log, read_edit_file(path), "alice", "bulk")
    twin_number = CHECK_BATCH + 11
    assert refused.value.rejected == [
        (1, f"contradicts record(s) {twin_number} of this file"),
        (twin_number, "contradicts record(s) 1 of this file"),
    ]
    assert log.repository.count_edits() == 0
    bars: list[RecordedBar] = []
    result = import_read(log, read_edit_file(path), "alice", "bulk", True, 64, lambda **kw: RecordedBar(bars, **kw))
    assert (result.imported, result.probes, result.total, len(result.rejected)) == (299, 598, 301, 2)
    assert [(b.desc, b.total, b.done, b.closed) for b in bars] == [
        ("checking conflicts", 301, 301, True),
        ("importing", 299, 299, True),
    ]
    counts = log.counts()
    assert counts["edits"]["active"] == 299 and counts["audit"]["by_action"] == {"import": 299}
    assert [(p.expect, p.prompt) for p in log.probes_for([1])[1]] == [
        ("in", records[1]["rephrase_prompt"]),
        ("out", records[1]["locality_prompt"]),
    ]


def test_terminal_shows_records_done_of_all_the_rate_and_time_left(tmp_path, db_url):
    """`app.py import` on a terminal: both bars count records of the whole file, with edits/s and an ETA."""
    path = write_import_file(tmp_path / "cf.json", VAL, 400)
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))  # a 140-column terminal
    cmd = [sys.executable, str(ROOT / "app.py"), "--db", db_url, "import", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=child, cwd=tmp_path)
    os.close(child)
    shown = _read_all(main, proc)
    assert proc.wait(timeout=60) == 0 and "imported 400 edits with 800 probe prompts" in proc.stdout.read().decode()
    finals = [part for part in shown.replace("\r", "\n").split("\n") if "400/400" in part]  # each redraw
    assert any(f.startswith("checking conflicts: 100%") for f in finals), shown
    assert any(f.startswith("importing: 100%") for f in finals), shown
    assert all("edit/s]" in f and "<00:00" in f for f in finals), finals  # the rate, and no time left


def _read_all(fd: int, proc: subprocess.Popen) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        try:
            data = os.read(fd, 65536) if ready else b""
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def test_bench_import_phase_runs_the_real_command_and_reports_its_own_peak_rss():
    from cli.bench_import import TARGET, describe, measure_import

    result = measure_import(VAL, 500, seed=1)
    assert result["n"] == result["imported"] == 500
    assert result["edits_per_s"] == pytest.approx(500 / result["seconds"], rel=1e-2)  # seconds kept to the ms
    # the import's own peak: a Python with SQLAlchemy loaded is tens of MiB, 500 records add little; a peak
    # counted from this (pytest) process's size at fork would be larger
    assert 20 * 2**20 < result["peak_rss_bytes"] < 200 * 2**20
    lines = describe(result)
    assert "edits/s" in lines[0] and "peak RSS" in lines[0] and lines[1] == f"  target: {TARGET}"
