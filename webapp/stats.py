"""Read-only figures about the edit log and the index, for operators and the load test (GET /api/stats).

Invariants: nothing here writes; the log's counts come from one read snapshot; the index figures come from
`Services.check_consistency`, which holds the write lock, so they are never taken halfway through a write.
"""

from __future__ import annotations

import sqlalchemy as sa

from db.engine import read_transaction
from db.models import audit_log, edits
from webapp.services import Services


def log_counts(services: Services) -> dict:
    """Edits by status and audit rows by action, from one snapshot of the log."""
    with read_transaction(services.repository.engine) as conn:
        by_status = dict(conn.execute(sa.select(edits.c.status, sa.func.count()).group_by(edits.c.status)).all())
        by_action = dict(conn.execute(sa.select(audit_log.c.action, sa.func.count())
                                      .group_by(audit_log.c.action)).all())
    return {"edits": {"total": sum(by_status.values()), "active": by_status.get("active", 0),
                      "retired": by_status.get("retired", 0)},
            "audit": {"rows": sum(by_action.values()), "by_action": dict(sorted(by_action.items()))}}


def stats(services: Services) -> dict:
    """The log's counts plus the index: its size and whether it holds exactly the log's active edits."""
    check = services.check_consistency()
    out = log_counts(services)
    out["index"] = {"size": check.in_index, "active_in_log": check.active_in_log, "consistent": check.ok,
                    "missing": list(check.missing[:20]), "extra": list(check.extra[:20])}
    out["threshold"] = services.editor.threshold
    out["parts"] = services.editor.trained_parts or {}  # which learned parts serve, and the shipped version
    return out
