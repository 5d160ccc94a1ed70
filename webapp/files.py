"""The server's files on disk: uploads (Gradio's, for imports) and exports (the audit CSV) live in one folder
the server owns, `serac-files-*` inside `config.temp_dir` (the system's temp folder by default).

- Gradio keeps its uploads and the copies of files it serves in `root/gradio` (GRADIO_TEMP_DIR, set before the
  UI is built) and deletes those older than `max_age_s` on its own schedule (Blocks.delete_cache);
- an export is written to `root/gradio/exports/<random>/NAME`, inside Gradio's folder, so Gradio serves it where
  it is (no second copy); an upload is deleted once its import has saved it (`discard`); whatever is older than
  `max_age_s` is deleted by `sweep`, which the server runs every `sweep_every_s`;
- at shutdown the whole folder goes (`close`), so a server leaves no files behind.

Invariants: only files inside the root are ever deleted (`discard` of any other path does nothing); the root
is readable by its owner only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

GRADIO_TEMP_ENV = "GRADIO_TEMP_DIR"  # where Gradio keeps uploads and served files (read by Gradio at each use)


class AppFiles:
    def __init__(self, parent: str | Path | None, max_age_s: float):
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="serac-files-", dir=parent)).resolve()  # mode 0700
        self.max_age_s = max_age_s
        self.sweep_every_s = max(1.0, min(60.0, max_age_s / 4))
        self.gradio = self.root / "gradio"
        self.exports = self.gradio / "exports"
        self.exports.mkdir(parents=True)

    def own_gradio_files(self) -> None:
        """Point Gradio's uploads and served copies at this root (before the UI is built: components read it)."""
        os.environ[GRADIO_TEMP_ENV] = str(self.gradio)

    def export_path(self, name: str) -> Path:
        """A new path for an export called `name` (its own folder, so two exports never collide)."""
        folder = self.exports / uuid.uuid4().hex
        folder.mkdir()
        return folder / Path(name).name

    def discard(self, path: str | Path | None) -> bool:
        """Delete an upload or export once used; True if it was inside the root and is gone now."""
        if not path:
            return False
        target = Path(path).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            return False
        target.unlink(missing_ok=True)
        _remove_empty(target.parent, (self.root, self.gradio, self.exports))
        return True

    def sweep(self, now: float | None = None) -> int:
        """Delete files older than max_age_s (and the folders they leave empty); returns how many files."""
        cutoff = (time.time() if now is None else now) - self.max_age_s
        removed = 0
        for path in sorted(self.root.rglob("*"), reverse=True):  # files before the folders that hold them
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
                elif path.is_dir() and path not in (self.gradio, self.exports) and not any(path.iterdir()):
                    path.rmdir()
            except FileNotFoundError:
                continue
        return removed

    def files(self) -> list[Path]:
        """Every file under the root now (tests count them)."""
        return [p for p in self.root.rglob("*") if p.is_file()]

    def close(self) -> None:
        """Remove the root and everything in it (at shutdown)."""
        shutil.rmtree(self.root, ignore_errors=True)

    @asynccontextmanager
    async def swept(self) -> AsyncIterator[None]:
        """While the server runs, sweep every sweep_every_s; at shutdown, remove everything."""
        task = asyncio.create_task(self._sweep_forever())
        try:
            yield
        finally:
            task.cancel()
            self.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every_s)
            await asyncio.to_thread(self.sweep)


def _remove_empty(folder: Path, keep: tuple[Path, ...]) -> None:
    """Remove `folder` and its parents while they are empty, up to one of `keep`."""
    while folder not in keep and folder.is_relative_to(keep[0]):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def wrap_lifespan(app, outer: Callable) -> None:
    """Run `outer()` (an async context manager) around the app's own lifespan (Gradio's included)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with outer(), inner(a) as state:
            yield state

    app.router.lifespan_context = lifespan
