"""Plotly figure builders for the UI: candidate scores, the scope map and the threshold sweep.

Invariants: each builder is a pure function of plain data (no services, no gradio) and always returns a
figure, with a note in place of the plot when there is nothing to draw; curators' text in a label or hover is
escaped piece by piece (webapp.shown.plot), so neither its markup nor an open right-to-left mark reaches the
app's words beside it, and a hover shows at most HOVER_CHARS characters of one text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.types import RoutingRecord
from webapp.shown import plot

CHOSEN, OTHER, PROBE = "#2e7d32", "#90a4ae", "#d81b60"
HOVER_CHARS = 300  # a hover shows at most this much of one text (a 3,000-character word would run off the page)


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
    labels = [f"#{c.edit.id} {plot(_short(c.edit.prompt))} → {plot(_short(c.edit.target, 20))}" for c in d.candidates]
    hovers = [
        f"#{c.edit.id} {plot(_short(c.edit.prompt, HOVER_CHARS))} → {plot(_short(c.edit.target, HOVER_CHARS))}"
        + f"<br>score {c.score:.3f} · cosine {c.similarity:.3f}"
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


PASS, FAIL = "#2e7d32", "#c62828"


def probe_set_figure(
    prompts: Sequence[str], scores: Sequence[float], passed: Sequence[bool], expects: Sequence[str], threshold: float
) -> go.Figure:
    """One horizontal bar per probe of an edit's probe set: its best scope score, green when it passes and red
    when it fails, the threshold as a dashed line; labels show the curators' text as text."""
    if not prompts:
        return empty_figure("No probes")
    labels = [f"{i + 1}. {plot(_short(p))} ({e})" for i, (p, e) in enumerate(zip(prompts, expects))]
    fig = go.Figure(
        go.Bar(
            x=list(scores),
            y=labels,
            orientation="h",
            marker_color=[PASS if ok else FAIL for ok in passed],
            text=[f"{s:.3f} {'pass' if ok else 'fail'}" for s, ok in zip(scores, passed)],
            textposition="outside",
            cliponaxis=False,
            hovertext=[plot(_short(p, HOVER_CHARS)) + f"<br>best score {s:.3f}" for p, s in zip(prompts, scores)],
            hoverinfo="text",
        )
    )
    fig.add_vline(
        x=threshold,
        line_dash="dash",
        line_color="#c62828",
        annotation_text=f"threshold {threshold:.2f}",
        annotation_position="top",
    )
    fig.update_layout(
        title="The probe set: best scope score per probe (green pass, red fail)",
        xaxis=dict(range=[0, 1.18], title="best scope score"),
        yaxis=dict(autorange="reversed", automargin=True),
        height=140 + 40 * len(prompts),
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
    """Edits as dots (orange when another edit is within its scope), the probe as a star. Dots carry their
    id where it fits beside them without covering another id (label_spots); every dot has its hover."""
    if len(points) == 0:
        return empty_figure("No active edits to map")
    ids = [label.split(" ", 1)[0] for label in labels]
    spots = label_spots(points, ids) if len(points) <= MAX_LABELLED else [None] * len(points)
    fig = go.Figure(
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers+text",
            name="edits",
            text=[plot(i) if spot else "" for i, spot in zip(ids, spots)],
            textposition=[spot or "top center" for spot in spots],
            hovertext=[plot(_short(label, HOVER_CHARS)) for label in labels],
            hoverinfo="text",
            marker=dict(size=10, color=["#ef6c00" if c else "#1565c0" for c in crowded], line=dict(width=1)),
        )
    )
    if probe_point is not None:
        fig.add_trace(
            go.Scatter(
                x=[probe_point[0]],
                y=[probe_point[1]],
                mode="markers",
                name="probe: " + plot(_short(probe_label, 30)),
                hovertext=[plot(_short(probe_label, HOVER_CHARS))],
                hoverinfo="text",
                marker=dict(symbol="star", size=18, color=PROBE),
            )
        )
    unlabelled = sum(spot is None for spot in spots)
    note = f" ({unlabelled} ids on hover only, where they would overlap)" if unlabelled else ""
    fig.update_layout(
        title=f"Edit embeddings (PCA); orange = crowded by another edit{note}",
        height=480,
        xaxis=dict(title="PC 1", range=_padded(points, probe_point, 0)),
        yaxis=dict(title="PC 2", range=_padded(points, probe_point, 1)),
        legend=dict(orientation="h", y=-0.15),
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


MAX_LABELLED = 200  # above this, ids only on hover
PLOT_PX = (900.0, 370.0)  # the smallest plot area the tab gets (1400 px viewport, 480 px tall figure)
CHAR_PX, LINE_PX, GAP_PX, DOT_PX = 7.5, 15.0, 7.0, 5.0  # an id's glyph width and height, its gap to the dot


def _box(spot: str, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) in pixels (y up) of a w x h label at plotly's `spot` beside the dot at (x, y)."""
    if spot == "top center":
        return x - w / 2, y + GAP_PX, x + w / 2, y + GAP_PX + h
    if spot == "bottom center":
        return x - w / 2, y - GAP_PX - h, x + w / 2, y - GAP_PX
    if spot == "middle right":
        return x + GAP_PX, y - h / 2, x + GAP_PX + w, y + h / 2
    return x - GAP_PX - w, y - h / 2, x - GAP_PX, y + h / 2  # middle left


SPOTS = ("top center", "bottom center", "middle right", "middle left")


def label_spots(points: np.ndarray, texts: Sequence[str]) -> list[str | None]:
    """For each point, the first of SPOTS where its label's box (in pixels of the smallest plot area) covers
    neither another label nor another dot; None when none is free (then the id shows on hover only)."""
    px = _to_pixels(points)
    taken = [(x - DOT_PX, y - DOT_PX, x + DOT_PX, y + DOT_PX) for x, y in px]
    spots: list[str | None] = []
    for (x, y), text in zip(px, texts):
        boxes = ((spot, _box(spot, x, y, CHAR_PX * len(text), LINE_PX)) for spot in SPOTS)
        free = next(((spot, box) for spot, box in boxes if not any(_overlap(box, t) for t in taken)), None)
        spots.append(free[0] if free else None)
        if free:
            taken.append(free[1])
    return spots


def _to_pixels(points: np.ndarray) -> np.ndarray:
    """Points scaled to the plot area in pixels (y up), as _padded lays the axes out."""
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    return (points - low) / span * (np.array(PLOT_PX) * 0.84)


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _padded(points: np.ndarray, probe: np.ndarray | None, axis: int) -> list[float]:
    """An axis range with 8% room on each side, so labels at the edges are not cut."""
    values = points[:, axis] if probe is None else np.append(points[:, axis], probe[axis])
    low, high = float(values.min()), float(values.max())
    pad = 0.08 * (high - low) / 0.84 if high > low else 1.0
    return [low - pad, high + pad]


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
