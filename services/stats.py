"""Read-only figures about the edit log and the index, for operators and the load test (GET /api/stats).

Invariants: nothing here writes; the log's counts come from one read snapshot; the index figures come from
`Services.check_consistency`, which holds the write lock, so they are never taken halfway through a write.
"""

from __future__ import annotations

from services.services import Services


def stats(services: Services) -> dict:
    """The log's counts plus the index: its size and whether it holds exactly the log's active edits."""
    check = services.check_consistency()
    out = services.counts()
    out["index"] = {
        "size": check.in_index,
        "active_in_log": check.active_in_log,
        "consistent": check.ok,
        "missing": list(check.missing[:20]),
        "extra": list(check.extra[:20]),
    }
    out["threshold"] = services.editor.threshold
    out["parts"] = services.editor.trained_parts or {}  # which learned parts serve, and the shipped version
    return out
