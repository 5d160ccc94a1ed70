"""Threshold tab callbacks: how the routing of the probe set would change at another threshold, which probes
flip, and setting it (a global change, so it is confirmed first).

The probe set is every active edit's probe set (its prompt and stored probes; default unrelated prompts
when there are no out-of-scope ones), for the newest MAX_EDITS active edits: the view says plainly when it
is such a sample. Each prompt is routed once (no generation); at threshold t an in-scope probe is recalled
when its own edit is the best candidate with score >= t, and an out-of-scope probe is rejected when the best
score is < t. The best candidate is the router's at threshold 0 (core.router.rank: a probe that is an edit's
prompt puts that edit first), so at a tried threshold above that edit's score the view says "base model"
where the router would take the next in-scope edit; edits' prompts score near 1, so this stays theoretical.
Invariant: only `set_threshold` writes (the setting and its audit row), and only for a curator; asking to
set it (`ask_to_set`) writes nothing.
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

MAX_EDITS = 300  # each probe costs a routing pass: 300 edits' probe sets route in seconds
GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
FLIP_COLUMNS = ("probe prompt", "its edit", "expect", "decision now", "at the tried threshold", "effect")


@dataclass(frozen=True)
class Sweep:
    """Per probe: its prompt, the edit it belongs to, the expected edit id (None when out of scope), the best
    candidate's edit id and score; and how many active edits the probe set covers of how many."""

    prompts: list[str]
    owners: list[int]
    expected: list[int | None]
    best_edit: list[int | None]
    best_score: np.ndarray
    edits_used: int = 0
    edits_active: int = 0

    def rates(self, t: float) -> tuple[float | None, float | None]:
        """(in-scope recall, out-of-scope rejection) at threshold t (None when there are no such probes)."""
        inn = [i for i, e in enumerate(self.expected) if e is not None]
        out = [i for i, e in enumerate(self.expected) if e is None]
        return share(self.right(i, t) for i in inn), share(self.right(i, t) for i in out)

    def routed(self, i: int, t: float) -> int | None:
        """The edit probe i is routed to at threshold t (None: the base model answers)."""
        return self.best_edit[i] if self.best_edit[i] is not None and self.best_score[i] >= t else None

    def right(self, i: int, t: float) -> bool:
        """In scope: routed to its own edit. Out of scope: left to the base model."""
        return self.routed(i, t) == self.expected[i]


def sweep(services: Services, limit: int = MAX_EDITS) -> Sweep:
    active = services.repository.active_edits()
    edits = active[-limit:]
    owners, expected, prompts = [], [], []
    for edit in edits:
        for expect, prompt, _ in probe_set(services, edit):
            owners.append(edit.id)
            expected.append(edit.id if expect == "in" else None)
            prompts.append(prompt)
    decisions = services.route(prompts, threshold=0.0) if prompts else []
    best = [d.candidates[0] if d.candidates else None for d in decisions]
    scores = np.array([c.score if c else 0.0 for c in best], dtype=float)
    return Sweep(prompts, owners, expected, [c.edit.id if c else None for c in best], scores, len(edits), len(active))


def flipped(result: Sweep, now: float, tried: float) -> list[list]:
    """One row per probe whose routing differs between the current and the tried threshold."""
    rows = []
    for i, prompt in enumerate(result.prompts):
        before, after = result.routed(i, now), result.routed(i, tried)
        if before == after:
            continue
        right_now, right_then = result.right(i, now), result.right(i, tried)
        effect = (
            "fixed" if right_then and not right_now else "broken" if right_now and not right_then else "still wrong"
        )
        expect = "in scope" if result.expected[i] is not None else "out of scope"
        rows.append(
            [prompt, f"#{result.owners[i]}", expect, _decision(result, i, now), _decision(result, i, tried), effect]
        )
    return rows


def _decision(result: Sweep, i: int, t: float) -> str:
    chosen = result.routed(i, t)
    return "base model" if chosen is None else f"edit #{chosen} ({result.best_score[i]:.3f})"


def threshold_view(
    services: Services, user: User, candidate: object = None, limit: int = MAX_EDITS
) -> tuple[go.Figure, str, list[list]]:
    """(recall/rejection vs threshold plot, a summary comparing the current threshold with the tried one,
    the probes that flip between the two)."""
    current = services.editor.threshold
    try:
        try_t = current if candidate in (None, "") else parse_threshold(candidate)
        with services.heavy.admit(user.name):  # services.limits: Busy / RateLimited, shown as the error
            result = sweep(services, limit)
    except EditorError as exc:
        return empty_figure("No sweep"), error_text(exc), []
    if not result.expected:
        return empty_figure("No active edits, so no probe set yet"), "Add edits (and probe prompts) first.", []
    curves = np.array([result.rates(t) for t in GRID], dtype=float)  # None (no such probes): a gap in the plot
    fig = threshold_figure(GRID, curves[:, 0], curves[:, 1], current, try_t)
    (r0, j0), (r1, j1) = result.rates(current), result.rates(try_t)
    flips = flipped(result, current, try_t)
    n_in = sum(e is not None for e in result.expected)
    text = (
        f"{_coverage(result)}: {n_in} in-scope and {len(result.expected) - n_in} out-of-scope prompts. "
        f"At the current threshold **{current:.2f}**: recall {_pct(r0)}, rejection {_pct(j0)}. "
        f"At **{try_t:.2f}**: recall {_pct(r1)}, rejection {_pct(j1)}; {_flip_count(flips)}."
    )
    return fig, text, flips


def _flip_count(flips: list) -> str:
    return f"{len(flips)} probe(s) change their routing (listed below)" if flips else "no probe changes its routing"


def _coverage(result: Sweep) -> str:
    if result.edits_used == result.edits_active:
        return f"Probe set: all {result.edits_active} active edit(s)"
    return (
        f"Probe set: the newest {result.edits_used} of {result.edits_active} active edits "
        "(a sample: the older edits' probes are not routed here)"
    )


def ask_to_set(services: Services, user: User, value: object) -> tuple[str, float | None]:
    """(the question to confirm, the pending value) for a curator; an error and None otherwise. Writes nothing."""
    try:
        require_curator(user)
        new = parse_threshold(value)
    except EditorError as exc:
        return error_text(exc), None
    old = services.editor.threshold
    if new == old:
        return f"The threshold is already **{old:.2f}**; nothing to change.", None
    question = (
        f"**Set the routing threshold for everyone from {old:.2f} to {new:.2f}?** Every query from now on "
        "(this page, the API, other curators) is routed with it. Confirm, or cancel to keep "
        f"{old:.2f}."
    )
    return question, new


def set_threshold(services: Services, user: User, value: object, reason: str = "") -> str:
    try:
        require_curator(user)
        old = services.editor.threshold
        new = services.set_threshold(value, user.name, reason or None)
    except EditorError as exc:
        return error_text(exc)
    return f"Threshold set from {old:.2f} to **{new:.2f}** (logged in the audit history)."


def serving_line(services: Services) -> str:
    """The threshold that routes queries now (after a Set, the new one)."""
    return f"Current routing threshold: **{services.editor.threshold:.2f}** (serving)"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
