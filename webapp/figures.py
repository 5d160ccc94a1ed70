"""Plotly figure builders for the UI: candidate scores, the scope map and the threshold sweep.

Invariant: each builder is a pure function of plain data (no services, no gradio) and always returns a
figure, with a note in place of the plot when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.types import RoutingRecord
from webapp.shown import plot

CHOSEN, OTHER, PROBE = "#2e7d32", "#90a4ae", "#d81b60"


def empty_figure(note: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=260, margin=dict(l=20, r=20, t=30, b=20))
    return fig


def scores_figure(record: RoutingRecord | None) -> go.Figure:
    """Horizontal bars of the top-k candidates' scope scores (best on top, the chosen edit in green), the
    threshold as a dashed line; labels and hovers show the curators' text as text."""
    if record is None or not record.decision.candidates:
        return empty_figure("No candidate edits (the memory is empty)")
    d = record.decision
    chosen_id = d.chosen.edit.id if d.chosen else None
    labels = [plot(f"#{c.edit.id} {_short(c.edit.prompt)} → {_short(c.edit.target, 20)}") for c in d.candidates]
    hovers = [
        plot(f"#{c.edit.id} {c.edit.prompt} → {c.edit.target}") + f"<br>score {c.score:.3f} · cosine {c.similarity:.3f}"
        for c in d.candidates
    ]
    fig = go.Figure(
        go.Bar(
            x=[c.score for c in d.candidates],
            y=labels,
            orientation="h",
            marker_color=[CHOSEN if c.edit.id == chosen_id else OTHER for c in d.candidates],
            text=[f"{c.score:.3f}" for c in d.candidates],
            textposition="outside",
            cliponaxis=False,
            hovertext=hovers,
            hoverinfo="text",
        )
    )
    fig.add_vline(
        x=d.threshold,
        line_dash="dash",
        line_color="#c62828",
        annotation_text=f"threshold {d.threshold:.2f}",
        annotation_position="top",
    )
    fig.update_layout(
        title="Scope scores g(edit, x) of the top-k candidate edits",
        xaxis=dict(range=[0, 1.12], title="scope score"),
        yaxis=dict(autorange="reversed", automargin=True),
        height=140 + 44 * len(d.candidates),
        margin=dict(l=10, r=30, t=60, b=40),
    )
    return fig


def project_2d(vectors: np.ndarray, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """PCA of the edit vectors onto two axes (fitted on the edits only); `extra` rows projected the same way."""
    if len(vectors) == 0:
        return np.zeros((0, 2)), None if extra is None else np.zeros((len(extra), 2))
    mean = vectors.mean(axis=0)
    centered = vectors - mean
    if len(vectors) == 1:
        axes = np.zeros((2, vectors.shape[1]))
    else:
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        axes = np.zeros((2, vectors.shape[1]))
        axes[: min(2, len(vt))] = vt[:2]
    points = centered @ axes.T
    return points, None if extra is None else (extra - mean) @ axes.T


def scope_map_figure(
    points: np.ndarray,
    labels: Sequence[str],
    crowded: Sequence[bool],
    probe_point: np.ndarray | None = None,
    probe_label: str = "",
) -> go.Figure:
    """Edits as dots (orange when another edit is within its scope), the probe as a star."""
    if len(points) == 0:
        return empty_figure("No active edits to map")
    few = len(points) <= 200  # label the dots with their ids while that stays readable
    fig = go.Figure(
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers+text" if few else "markers",
            name="edits",
            text=[plot(label.split(" ", 1)[0]) for label in labels] if few else None,
            textposition="bottom center",
            hovertext=[plot(label) for label in labels],
            hoverinfo="text",
            marker=dict(size=10, color=["#ef6c00" if c else "#1565c0" for c in crowded], line=dict(width=1)),
        )
    )
    if probe_point is not None:
        fig.add_trace(
            go.Scatter(
                x=[probe_point[0]],
                y=[probe_point[1]],
                mode="markers+text",
                name="probe",
                text=[plot(_short(probe_label, 30))],
                textposition="top center",
                marker=dict(symbol="star", size=18, color=PROBE),
            )
        )
    fig.update_layout(
        title="Edit embeddings (PCA); orange = crowded by another edit",
        height=480,
        xaxis_title="PC 1",
        yaxis_title="PC 2",
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def threshold_figure(
    thresholds: np.ndarray, recall: np.ndarray, rejection: np.ndarray, current: float, candidate: float | None = None
) -> go.Figure:
    """In-scope recall and out-of-scope rejection of the probe set as the threshold moves."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=thresholds, y=recall, name="in-scope recall", mode="lines"))
    fig.add_trace(go.Scatter(x=thresholds, y=rejection, name="out-of-scope rejection", mode="lines"))
    fig.add_vline(x=current, line_dash="dash", line_color="#c62828", annotation_text=f"current {current:.2f}")
    if candidate is not None and abs(candidate - current) > 1e-9:
        fig.add_vline(
            x=candidate,
            line_dash="dot",
            line_color="#6a1b9a",
            annotation_text=f"try {candidate:.2f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title="Routing of the probe set vs threshold",
        xaxis_title="threshold",
        yaxis_title="share",
        yaxis_range=[0, 1.05],
        height=360,
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
