"""LogCheck: `audit verify` of the whole edit log while a server loads the models and the index. The check runs in
worker processes (db.audit_check: the chain split by audit id, the replay by edit id, one part per CPU), watched by
a thread of the server, so the loading in this process and the check share the CPUs instead of taking turns (a
million audit rows on this shared 2-core box: 97 s in one process before, chain 32 s and replay 65 s, at load 3.7;
26 s in two at load 2.6, about 31 s of CPU in all).

Invariant: `wait` returns only when the log passed the check; it raises StateConflict listing the problems when the
log fails it, and the check's own error (DatabaseUnavailable, ...) when it could not run, so nothing is served
from a log that was not verified. `stop` ends the workers when the start fails for another reason.
"""

from __future__ import annotations

import sys
import threading
import time

from core.config import SeracConfig
from core.errors import EditorError, StateConflict


class LogCheck:
    def __init__(self, config: SeracConfig, parts: int | None = None):
        self.parts = parts  # side-by-side parts of the check (None: db.audit_check chooses by size and CPUs)
        self.seconds: float | None = None  # how long the check took, once it passed
        self._outcome: tuple | BaseException | None = None
        self._workers: list = []
        self._stopped = False
        self._thread = threading.Thread(target=self._verify, args=(config,), daemon=True, name="audit-verify")
        self._thread.start()

    def wait(self) -> None:
        """Block until the check is done: return if the log passed, else raise (see the module's invariant)."""
        self._thread.join()
        outcome = self._outcome
        if outcome is None:
            raise StateConflict("the audit log check stopped without a result; not serving this edit log")
        if isinstance(outcome, BaseException):
            raise outcome
        rows, report, self.seconds = outcome
        if report:
            raise StateConflict(
                report + "\nnot serving this edit log: see `app.py audit verify`; restore a backup or "
                "undo the change made outside the app"
            )
        print(f"audit log verified: {rows} rows in {self.seconds:.1f} s, beside the models' loading", file=sys.stderr)

    def stop(self) -> None:
        self._stopped = True
        for process in self._workers:
            if process.is_alive():
                process.terminate()
        for process in self._workers:
            process.join(timeout=10)

    def _started(self, processes: list) -> None:
        self._workers = processes
        if self._stopped:
            self.stop()

    def _verify(self, config: SeracConfig) -> None:
        """Thread: (rows, "" or the tamper report, seconds), or the exception that stopped the check."""
        from cli.audit import tamper_report
        from cli.context import open_repository

        started = time.perf_counter()
        try:
            check = open_repository(config).verify_audit(parts=self.parts, started=self._started)
            self._outcome = (check.rows, "" if check.ok else tamper_report(check), time.perf_counter() - started)
        except EditorError as exc:
            self._outcome = exc
        except Exception as exc:  # noqa: BLE001 - reported by `wait` as one line
            self._outcome = StateConflict(f"the audit log check failed: {type(exc).__name__}: {exc}")
