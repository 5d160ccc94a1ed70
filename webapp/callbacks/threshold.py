"""Threshold tab callbacks: how the routing of the probe set would change at another threshold, and setting it.

The probe set is every active edit's probe set (its prompt and stored probes; default unrelated prompts
when there are no out-of-scope ones). Each prompt is routed once (no generation); at threshold t an
in-scope probe is recalled when its own edit is the best candidate with score >= t, and an out-of-scope
probe is rejected when the best score is < t.
Invariant: only `set_threshold` writes (the setting and its audit row), and only for a curator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.errors import EditorError
from core.rates import share
from services.edit_log import parse_threshold
from services.services import Services
from webapp.auth import User, require_curator
from webapp.callbacks import error_text
from webapp.callbacks.probe import probe_set
from webapp.figures import empty_figure, threshold_figure

MAX_EDITS = 300
GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class Sweep:
    """Per probe: expected edit id (None when out of scope), best candidate's edit id and score."""

    expected: list[int | None]
    best_edit: list[int | None]
    best_score: np.ndarray

    def rates(self, t: float) -> tuple[float | None, float | None]:
        """(in-scope recall, out-of-scope rejection) at threshold t (None when there are no such probes)."""
        inn = [i for i, e in enumerate(self.expected) if e is not None]
        out = [i for i, e in enumerate(self.expected) if e is None]
        recall = share(self.best_edit[i] == self.expected[i] and self.best_score[i] >= t for i in inn)
        return recall, share(self.best_score[i] < t for i in out)


def sweep(services: Services) -> Sweep:
    edits = services.repository.active_edits()[-MAX_EDITS:]
    expected, prompts = [], []
    for edit in edits:
        for expect, prompt, _ in probe_set(services, edit):
            expected.append(edit.id if expect == "in" else None)
            prompts.append(prompt)
    decisions = services.route(prompts, threshold=0.0) if prompts else []
    best = [d.candidates[0] if d.candidates else None for d in decisions]
    return Sweep(
        expected, [c.edit.id if c else None for c in best], np.array([c.score if c else 0.0 for c in best], dtype=float)
    )


def threshold_view(services: Services, user: User, candidate: object = None) -> tuple[go.Figure, str]:
    """(recall/rejection vs threshold plot, a line comparing the current threshold with the candidate)."""
    current = services.editor.threshold
    try:
        try_t = current if candidate in (None, "") else parse_threshold(candidate)
        result = sweep(services)
    except EditorError as exc:
        return empty_figure("No sweep"), error_text(exc)
    if not result.expected:
        return empty_figure("No active edits, so no probe set yet"), "Add edits (and probe prompts) first."
    curves = np.array([result.rates(t) for t in GRID], dtype=float)  # None (no such probes): a gap in the plot
    fig = threshold_figure(GRID, curves[:, 0], curves[:, 1], current, try_t)
    (r0, j0), (r1, j1) = result.rates(current), result.rates(try_t)
    n_in = sum(e is not None for e in result.expected)
    text = (
        f"Probe set: {n_in} in-scope and {len(result.expected) - n_in} out-of-scope prompts. "
        f"At the current threshold **{current:.2f}**: recall {_pct(r0)}, rejection {_pct(j0)}. "
        f"At **{try_t:.2f}**: recall {_pct(r1)}, rejection {_pct(j1)}."
    )
    return fig, text


def set_threshold(services: Services, user: User, value: object, reason: str = "") -> str:
    try:
        require_curator(user)
        old = services.editor.threshold
        new = services.set_threshold(value, user.name, reason or None)
    except EditorError as exc:
        return error_text(exc)
    return f"Threshold set from {old:.2f} to **{new:.2f}** (logged in the audit history)."


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
