"""LogCheck: `audit verify` of the whole edit log in a child process, so a server verifies the log while it loads
the models and the index (about 58 s for a million audit rows on this CPU; the loading takes about as long).

Invariant: `wait` returns only when the log passed the check; it raises StateConflict listing the problems when the
log fails it, and the child's own error (DatabaseUnavailable, ...) when the check could not run, so nothing is served
from a log that was not verified. `stop` ends the child when the start fails for another reason.
"""

from __future__ import annotations

import multiprocessing
import sys
import time

from core.config import SeracConfig
from core.errors import EditorError, StateConflict


class LogCheck:
    def __init__(self, config: SeracConfig):
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_verify, args=(config, sender), daemon=True, name="audit-verify")
        self._process.start()
        sender.close()

    def wait(self) -> None:
        """Block until the child is done: return if the log passed, else raise (see the module's invariant)."""
        try:
            outcome = self._results.recv()
        except EOFError:
            raise StateConflict("the audit log check stopped without a result; not serving this edit log") from None
        finally:
            self._process.join(timeout=10)
        if isinstance(outcome, BaseException):
            raise outcome
        rows, report, seconds = outcome
        if report:
            raise StateConflict(
                report + "\nnot serving this edit log: see `app.py audit verify`; restore a backup or "
                "undo the change made outside the app"
            )
        print(f"audit log verified: {rows} rows in {seconds:.1f} s, beside the models' loading", file=sys.stderr)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)


def _verify(config: SeracConfig, sender) -> None:
    """Child: (rows, "" or the tamper report, seconds), or the exception that stopped the check."""
    from cli.audit import tamper_report
    from cli.context import open_repository

    started = time.perf_counter()
    try:
        check = open_repository(config).verify_audit()
        sender.send((check.rows, "" if check.ok else tamper_report(check), time.perf_counter() - started))
    except EditorError as exc:
        sender.send(exc)
    except Exception as exc:  # noqa: BLE001 - reported by the parent as one line
        sender.send(StateConflict(f"the audit log check failed: {type(exc).__name__}: {exc}"))
    finally:
        sender.close()
