"""Index snapshots: the edit memory's faiss index and its sorted id array in one file, so a restart reads the index
instead of rebuilding it (at 1M edits, assigning every vector to its IVF cell is most of a 50 s build).

File layout (all integers little-endian):
  MAGIC | the faiss index (faiss.write_index) | ids (int64 x count) | header (UTF-8 JSON) |
  header length (8 bytes) | sha256 of every byte before it (32 bytes) | MAGIC
The header names what makes the snapshot valid (format, embedder identity, dimension, the flat limit, the index
plan, the log's watermark and the count) and the index's length; it sits at the end so a start reads it (and the
caller judges the snapshot) without reading the index.

Invariants:
- a snapshot is a cache of a cache: the database stays the truth, and anything that does not check out
  (another format, key or plan, a short, altered or unreadable file) raises SnapshotError with the reason, and the
  caller rebuilds from the log;
- `write` is atomic: a temp file beside the target, fsynced, renamed over it (and the folder fsynced), so a crash
  leaves the old snapshot or the new one, never half of one; a failed write removes its temp file;
- `read` checks the digest over every byte before faiss parses any (an altered length inside the index could
  otherwise ask for any amount of memory), and returns nothing unless it matches, the file ends where the header
  says, and the index holds exactly the ids (sorted, unique).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import faiss
import numpy as np

FORMAT = 1
MAGIC = b"SERACIX1"
FOOTER = 8 + 32 + len(MAGIC)  # header length, digest, magic
READ_CHUNK = 8 << 20


class SnapshotError(Exception):
    """Why a snapshot cannot be used (one line)."""


def write(path: Path, header: dict, ids: np.ndarray, index: faiss.Index) -> int:
    """Write `index` and its sorted `ids` with `header` (JSON-ready) to `path` atomically; returns the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:

            def put(data) -> int:
                data = bytes(data)
                digest.update(data)
                out.write(data)
                return len(data)

            put(MAGIC)
            start = out.tell()
            faiss.write_index(index, faiss.PyCallbackIOWriter(put))
            ids = np.ascontiguousarray(ids, dtype="<i8")
            head = json.dumps({**header, "index_bytes": out.tell() - start, "count": len(ids)}).encode("utf-8")
            put(ids.tobytes())
            put(head)
            put(struct.pack("<Q", len(head)))
            out.write(digest.digest() + MAGIC)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return size


def read_header(path: Path) -> dict:
    """The header of the snapshot at `path` (reads only its end); SnapshotError when it has none."""
    return _opened(path, _header)[0]


def read(path: Path) -> tuple[dict, np.ndarray, faiss.Index]:
    """(header, ids, index) of the snapshot at `path`, its digest checked; SnapshotError when anything is off."""
    return _opened(path, _read)


def _opened(path: Path, parse):
    """parse(the open file, its size), with a missing or unreadable file as SnapshotError."""
    try:
        with open(path, "rb") as f:
            return parse(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot at {path}") from None
    except OSError as exc:
        raise SnapshotError(f"the snapshot at {path} cannot be read ({exc})") from None


def _header(f, size: int) -> tuple[dict, int]:
    """(header, its length) from the file's end."""
    if size < len(MAGIC) + FOOTER:
        raise SnapshotError(f"the snapshot file is truncated ({size} bytes)")
    f.seek(size - FOOTER)
    footer = f.read(FOOTER)
    if footer[-len(MAGIC) :] != MAGIC:
        raise SnapshotError("the snapshot file is truncated or not a snapshot (no end marker)")
    (length,) = struct.unpack("<Q", footer[:8])
    if length > size - len(MAGIC) - FOOTER:
        raise SnapshotError("the snapshot file is corrupt (its header length runs past its start)")
    f.seek(size - FOOTER - length)
    try:
        header = json.loads(f.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SnapshotError("the snapshot file is corrupt (its header is not JSON)") from None
    if not isinstance(header, dict) or not isinstance(header.get("index_bytes"), int):
        raise SnapshotError("the snapshot file is corrupt (its header lacks the index length)")
    return header, length


def _read(f, size: int) -> tuple[dict, np.ndarray, faiss.Index]:
    header, length = _header(f, size)
    count, index_bytes = header.get("count"), header["index_bytes"]
    if not isinstance(count, int) or len(MAGIC) + index_bytes + 8 * count + length + FOOTER != size:
        raise SnapshotError("the snapshot file's length does not match its header (truncated or altered)")
    if _digest(f, size - FOOTER + 8) != f.read(32):  # first: faiss is never handed bytes that were altered
        raise SnapshotError("the snapshot file's checksum does not match (altered or damaged)")
    f.seek(0)
    if f.read(len(MAGIC)) != MAGIC:
        raise SnapshotError("the snapshot file is not a snapshot (no start marker)")
    left = [index_bytes]

    def take(n: int) -> bytes:
        data = f.read(min(n, left[0]))
        left[0] -= len(data)
        return data

    try:
        index = faiss.read_index(faiss.PyCallbackIOReader(take, READ_CHUNK))
    except (RuntimeError, MemoryError) as exc:
        raise SnapshotError(f"the snapshot's index cannot be read: {str(exc).splitlines()[0]}") from None
    ids = np.frombuffer(f.read(8 * count), dtype="<i8").astype(np.int64)
    if left[0] or index.ntotal != count or (count and not np.all(ids[1:] > ids[:-1])):
        raise SnapshotError("the snapshot's ids do not match its index")
    return header, ids, index


def _digest(f, n: int) -> bytes:
    """sha256 of the file's first n bytes (the file is left just after them)."""
    digest = hashlib.sha256()
    f.seek(0)
    while n > 0:
        data = f.read(min(READ_CHUNK, n))
        if not data:
            raise SnapshotError("the snapshot file ends early (truncated)")
        digest.update(data)
        n -= len(data)
    return digest.digest()


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
