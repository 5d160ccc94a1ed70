"""Scope map callbacks: a 2-D projection of the active edits' embeddings with the probe placed among them,
and the edits that crowd each other (another edit's prompt scores at or above the threshold for them).

Invariant: read-only; the embeddings come from the index (no re-encoding of edits).
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

CROWD_COLUMNS = ("edit id", "prompt", "crowded by", "its prompt", "score")
MAX_POINTS = 2000
NEIGHBOURS = 3


def scope_map(services: Services, user: User, probe: str = "") -> tuple[go.Figure, list[list], str]:
    """(figure, crowded pairs, note). The newest MAX_POINTS active edits are mapped."""
    edits, vectors = services.active_vectors(MAX_POINTS)  # after a sync: other instances' edits too
    if not edits:
        return empty_figure("No active edits to map"), [], "No active edits yet."
    try:
        probe_vec = services.embed([services.clean_query(probe)]) if probe and probe.strip() else None
    except EditorError as exc:
        return empty_figure("No map"), [], error_text(exc)
    points, probe_points = project_2d(vectors, probe_vec)
    pairs = crowded_pairs(services, edits, vectors)
    crowded = {row[0] for row in pairs}
    labels = [f"#{e.id} {e.prompt} → {e.target}" for e in edits]
    fig = scope_map_figure(
        points, labels, [e.id in crowded for e in edits], None if probe_points is None else probe_points[0], probe
    )
    note = f"{len(edits)} active edit(s) mapped; {len(crowded)} crowded by another edit."
    return fig, pairs, note


def crowded_pairs(services: Services, edits: list[Edit], vectors: np.ndarray) -> list[list]:
    """For each edit, the nearest other edits whose scope score on its prompt passes the threshold."""
    if len(edits) < 2:
        return []
    sims = vectors @ vectors.T  # (n, n) cosine: the vectors are unit length
    np.fill_diagonal(sims, -np.inf)
    k = min(NEIGHBOURS, len(edits) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    candidates = [[Candidate(edits[j], float(sims[i, j])) for j in row] for i, row in enumerate(nearest)]
    scores = services.score_pairs([e.prompt for e in edits], candidates)
    threshold = services.editor.threshold
    return [
        [edit.id, edit.prompt, f"#{c.edit.id}", c.edit.prompt, round(s, 4)]
        for edit, row, row_scores in zip(edits, candidates, scores)
        for c, s in zip(row, row_scores)
        if s >= threshold
    ]
