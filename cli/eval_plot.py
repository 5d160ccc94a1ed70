"""The scaling figure of `eval --sizes`: each metric against the number of edits in memory (plotly).

Invariant: the figure is drawn only from the sweep's reports; it writes HTML always and PNG only
when kaleido is installed (it says which files it wrote).
"""

from __future__ import annotations

from pathlib import Path

METRICS = (
    ("reliability", "reliability"),
    ("generalization", "generalization"),
    ("locality", "locality"),
    ("in-scope recall", ("routing", "in_scope_recall")),
    ("out-of-scope rejection", ("routing", "out_of_scope_rejection")),
)


def _value(point: dict, key):
    if isinstance(key, tuple):
        return point.get(key[0], {}).get(key[1])
    return point.get(key)


def scaling_figure(sweep: dict):
    """A plotly Figure: metric shares (left axis) and routing p50 latency (right axis) vs edits in memory."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    points = sweep["points"]
    x = [p["n_edits"] for p in points]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, key in METRICS:
        fig.add_trace(go.Scatter(x=x, y=[_value(p, key) for p in points], mode="lines+markers", name=name))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[p["latency_ms"].get("route_p50") for p in points],
            mode="lines+markers",
            name="route p50 (ms)",
            line={"dash": "dot"},
        ),
        secondary_y=True,
    )
    fig.update_xaxes(type="log", title_text="edits in memory")
    fig.update_yaxes(title_text="share", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="routing latency p50 (ms)", secondary_y=True)
    fig.update_layout(title="SERAC quality and routing cost vs number of edits", template="plotly_white")
    return fig


def save_scaling_figure(sweep: dict, stem: str) -> list[str]:
    """Write stem.html (and stem.png when kaleido is available); returns the paths written."""
    if not sweep.get("points"):
        return []
    fig = scaling_figure(sweep)
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    written = [f"{stem}.html"]
    fig.write_html(written[0], include_plotlyjs="cdn")
    try:
        fig.write_image(f"{stem}.png", width=900, height=550)
        written.append(f"{stem}.png")
    except (ImportError, ValueError, RuntimeError):
        pass  # kaleido (and its browser) not installed: HTML only
    return written
