"""The Scope map tab: the active edits' embeddings in 2-D with the current probe among them, and the edits
that crowd each other."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import scope_map as cb
from webapp.figures import empty_figure
from webapp.tabs import CELL_CHARS, HEAVY


def scope_map_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Scope map", id="scope-map"):
        with gr.Row():
            probe = gr.Textbox(label="Probe to place on the map (optional)", scale=4, elem_id="map-probe")
            draw = gr.Button("Draw map", variant="primary", scale=1, elem_id="map-button")
        note = gr.Markdown(elem_id="map-note")
        plot = gr.Plot(value=empty_figure("Press Draw map"), label="Scope map", elem_id="map-plot")
        crowded = gr.Dataframe(
            headers=list(cb.CROWD_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            column_widths=["6%", "38%", "8%", "38%", "10%"],
            label="Crowded edits: pairs where one edit scores at or above the threshold on the other's prompt "
            "(score: the higher of the two ways)",
            elem_id="map-crowded",
        )

    def on_draw(text, request: gr.Request):
        return cb.scope_map(services, who(request), text)

    draw.click(on_draw, probe, [plot, crowded, note], **HEAVY)
    probe.submit(on_draw, probe, [plot, crowded, note], **HEAVY)
    return []
