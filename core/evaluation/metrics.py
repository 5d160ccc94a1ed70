"""Metric functions of the evaluation: edit success, locality, drawdown, routing quality, latency.

Definitions (mission.md "Contracts"; EasyEdit names, SERAC paper metrics):
- reliability / generalization: share of edit prompts / paraphrases whose greedy answer starts with
  the new target (case, surrounding spaces and edge punctuation ignored; `answer_starts_with`);
- locality: share of unrelated prompts whose answer equals the base model's answer (compared after
  the same normalisation); drawdown = 1 - locality;
- likelihood variants (teacher forcing, as CounterFact papers do): share of prompts where the edited
  system gives the new target a strictly higher log-probability than the old one (ties fail), and for
  unrelated prompts the share where the true answer keeps a strictly higher log-probability than the
  edit's new target.

Invariant: every share is in [0, 1], or None when there was nothing to measure (never a made-up 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.rates import share
from core.text import answer_starts_with, same_answer


def edit_success(answers: Sequence[str], targets: Sequence[str]) -> float | None:
    """Share of answers that start with their target (reliability or generalization)."""
    _same_length(answers, targets)
    return share([answer_starts_with(a or "", t) for a, t in zip(answers, targets)])


def locality(answers: Sequence[str], base_answers: Sequence[str]) -> float | None:
    """Share of unrelated prompts whose answer equals the base model's answer."""
    _same_length(answers, base_answers)
    return share([same_answer(a, b) for a, b in zip(answers, base_answers)])


def drawdown(locality_value: float | None) -> float | None:
    """1 - locality: the share of out-of-scope answers the edits changed."""
    return None if locality_value is None else 1.0 - locality_value


def prefers(preferred: Sequence[float], other: Sequence[float]) -> float | None:
    """Share of rows where the preferred log-probability is strictly higher (a tie is not a preference)."""
    _same_length(preferred, other)
    return share([p > o for p, o in zip(preferred, other)])


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between order statistics; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def routing_quality(in_scope_hits: Sequence[bool], out_of_scope_routed: Sequence[bool]) -> dict:
    """in_scope_recall: share of in-scope queries routed to their own edit;
    out_of_scope_rejection: share of unrelated queries routed to the base model."""
    rejected = [not r for r in out_of_scope_routed]
    return {"in_scope_recall": share(in_scope_hits), "out_of_scope_rejection": share(rejected)}


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} values but {len(b)} references")
