"""Scope map callbacks: a 2-D projection of the active edits' embeddings with the probe placed among them,
and the edits that crowd each other (one edit's scope score on the other's prompt is at or above the
threshold).

Invariants: read-only; the embeddings come from the index (no re-encoding of edits); each crowded pair is
listed once, with both edits' prompts and targets and the higher of its two scores.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.errors import EditorError
from core.types import Candidate, Edit
from services.services import Services
from webapp.auth import User
from webapp.callbacks import error_text
from webapp.figures import empty_figure, project_2d, scope_map_figure
from webapp.shown import bidi_closed

CROWD_COLUMNS = ("edit", "prompt → target", "other edit", "its prompt → target", "score")
MAX_POINTS = 2000
NEIGHBOURS = 3


def scope_map(services: Services, user: User, probe: str = "") -> tuple[go.Figure, list[list], str]:
    """(figure, crowded pairs, note). The newest MAX_POINTS active edits are mapped; a map is heavy work, admitted
    by services.heavy (a refusal is the note)."""
    try:
        with services.heavy.admit(user.name):
            return _scope_map(services, probe)
    except EditorError as exc:
        return empty_figure("No map"), [], error_text(exc)


def _scope_map(services: Services, probe: str) -> tuple[go.Figure, list[list], str]:
    edits, vectors = services.active_vectors(MAX_POINTS)  # after a sync: other instances' edits too
    if not edits:
        return empty_figure("No active edits to map"), [], "No active edits yet."
    try:
        probe_vec = services.embed([services.clean_query(probe)]) if probe and probe.strip() else None
    except EditorError as exc:
        return empty_figure("No map"), [], error_text(exc)
    points, probe_points = project_2d(vectors, probe_vec)
    pairs = crowded_pairs(services, edits, vectors)
    crowded = {int(edit_id) for row in pairs for edit_id in (row[0], row[2].lstrip("#"))}
    labels = [f"#{e.id} {_said(e)}" for e in edits]
    fig = scope_map_figure(
        points, labels, [e.id in crowded for e in edits], None if probe_points is None else probe_points[0], probe
    )
    note = f"{len(edits)} active edit(s) mapped; {len(crowded)} crowded by another edit ({len(pairs)} pair(s))."
    return fig, pairs, note


def crowded_pairs(services: Services, edits: list[Edit], vectors: np.ndarray) -> list[list]:
    """Pairs of edits among each edit's nearest others where one's scope score on the other's prompt passes
    the threshold: one row per pair (the lower id first), the higher score of the two ways, best first."""
    if len(edits) < 2:
        return []
    sims = vectors @ vectors.T  # (n, n) cosine: the vectors are unit length
    np.fill_diagonal(sims, -np.inf)
    k = min(NEIGHBOURS, len(edits) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    candidates = [[Candidate(edits[j], float(sims[i, j])) for j in row] for i, row in enumerate(nearest)]
    scores = services.score_pairs([e.prompt for e in edits], candidates)
    threshold = services.editor.threshold
    best: dict[tuple[int, int], tuple[float, Edit, Edit]] = {}
    for edit, row, row_scores in zip(edits, candidates, scores):
        for c, score in zip(row, row_scores):
            first, second = sorted((edit, c.edit), key=lambda e: e.id)
            key = (first.id, second.id)
            if score >= threshold and score > best.get(key, (-1.0,))[0]:
                best[key] = (float(score), first, second)
    ranked = sorted(best.values(), key=lambda v: (-v[0], v[1].id, v[2].id))
    return [[a.id, _said(a), f"#{b.id}", _said(b), round(score, 4)] for score, a, b in ranked]


def _said(edit: Edit) -> str:
    return f"{bidi_closed(edit.prompt)} → {bidi_closed(edit.target)}"
