"""A share of cases: the one rule for rates the UI, evaluation and training report.

Invariant: a share of nothing is None (JSON null; the UI shows "n/a"), never nan or 0.
"""

from __future__ import annotations

from collections.abc import Iterable


def share(flags: Iterable[bool]) -> float | None:
    """The fraction of True values; None when there are none to count."""
    values = [bool(f) for f in flags]
    return sum(values) / len(values) if values else None


def rounded_share(flags: Iterable[bool], digits: int = 4) -> float | None:
    """`share`, rounded for reports."""
    value = share(flags)
    return None if value is None else round(value, digits)
