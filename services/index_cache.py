"""IndexCache: where the edit index's snapshot lives (core.index_snapshot) and when Services may trust it.

A snapshot is keyed by what makes it valid: the serving embedder's identity, the memory's dimension, flat limit and
index plan (core.memory checks those), and the log's watermark, the newest audit row ('ID:HASH') the index reflects.

Invariants:
- a snapshot is used only while its watermark row is in the log with the same hash (the log was not rewritten or
  cut behind it); the changes after it are then replayed by the caller through its ordinary sync, so the index ends
  where a full build would;
- anything else (no file, another key, a missing or changed watermark row, a short or altered file) leaves the
  memory empty and logs one line saying why; the caller rebuilds from the log;
- writing a snapshot never fails the caller: an error is logged and the next start rebuilds;
- the file: `config.index_snapshot_dir`, else beside a SQLite log's file, else <cache_dir>/../index; its name
  carries the log's name and a hash of its URL (password masked), so logs never share one.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from core.config import SeracConfig, mask_url_password
from core.errors import InvalidInput
from core.index_snapshot import SnapshotError, read_header
from core.memory import EditMemory
from db import replay
from db.engine import read_transaction
from db.repository import EditRepository

log = logging.getLogger(__name__)


def snapshot_path(config: SeracConfig) -> Path:
    """The snapshot file of the index over `config.db_url`'s log."""
    url = make_url(config.db_url)
    database = url.database or "log"
    is_file = url.get_backend_name() == "sqlite" and database != ":memory:"
    where = str(Path(database).resolve()) if is_file else mask_url_password(config.db_url)
    if config.index_snapshot_dir:
        folder = Path(config.index_snapshot_dir)
    else:
        folder = Path(database).resolve().parent if is_file else Path(config.cache_dir).parent / "index"
    digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
    return folder / f"{Path(database).name}-{digest}.index-snapshot"


class IndexCache:
    def __init__(self, config: SeracConfig, repository: EditRepository, identity: str):
        self.path, self.min_edits = snapshot_path(config), config.index_snapshot_min_edits
        self.repository, self.identity = repository, identity
        self.head: str | None = None  # the watermark of the snapshot on disk, as this process last wrote or read it

    def restore(self, memory: EditMemory) -> str | None:
        """Fill `memory` from the snapshot when it is valid; returns its watermark (the changes after it are the
        caller's to replay), else None with the reason logged."""
        if not self.path.exists():
            log.info("no index snapshot at %s: the index is built from the log's stored embeddings", self.path)
            return None
        try:
            header = read_header(self.path)
            key = self._key(header.get("watermark"))
            problem = memory.snapshot_problem(header, key) or self._watermark_problem(header.get("watermark"))
            if problem:
                raise SnapshotError(problem)
            memory.load_snapshot(self.path, key)
        except SnapshotError as exc:
            log.warning("index snapshot %s not used: %s; building the index from the log instead", self.path, exc)
            return None
        self.head = header["watermark"]
        return self.head

    def save(self, memory: EditMemory, head: str | None) -> bool:
        """Write `memory` as the snapshot at watermark `head` (nothing for an empty log or a small index)."""
        if head is None or len(memory) < self.min_edits:
            return False
        try:
            memory.save_snapshot(self.path, self._key(head))
        except (OSError, RuntimeError) as exc:
            log.warning("index snapshot not written to %s (%s); the next start builds the index again", self.path, exc)
            return False
        self.head = head
        return True

    def _key(self, head: str | None) -> dict:
        return {"embedder": self.identity, "watermark": head}

    def _watermark_problem(self, head: object) -> str | None:
        """None while the snapshot's watermark row is in the log with the same hash; else why not."""
        if not isinstance(head, str):
            return "the snapshot names no watermark"
        try:
            with read_transaction(self.repository.engine) as conn:
                problem = replay.check_head(conn, head)
        except InvalidInput:
            return f"its watermark {head[:80]!r} is not 'ID:HASH'"
        return None if problem is None else f"its watermark no longer matches the log ({problem})"
