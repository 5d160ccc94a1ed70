"""The Threshold tab: in-scope recall and out-of-scope rejection of the probe set vs threshold; set it (logged)."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import threshold as cb
from webapp.figures import empty_figure
from webapp.tabs import MODEL, writers_only


def threshold_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Threshold", id="threshold"):
        current = gr.Markdown(elem_id="threshold-current")
        with gr.Row():
            trial = gr.Slider(
                0.0,
                1.0,
                step=0.01,
                value=services.editor.threshold,
                label="Try a threshold",
                scale=4,
                elem_id="threshold-slider",
            )
            show = gr.Button("Show routing of the probe set", scale=1, elem_id="threshold-show")
        summary = gr.Markdown(elem_id="threshold-summary")
        plot = gr.Plot(value=empty_figure("Press Show"), label="Threshold sweep", elem_id="threshold-plot")
        with gr.Row():
            reason = gr.Textbox(label="Reason (kept in the audit log)", scale=4, elem_id="threshold-reason")
            apply = gr.Button("Set this threshold", variant="stop", scale=1, elem_id="threshold-set")
        status = gr.Markdown(elem_id="threshold-status")

    def on_show(t, request: gr.Request):
        return cb.threshold_view(services, who(request), t)

    def on_set(t, r, request: gr.Request):
        return cb.set_threshold(services, who(request), t, r)

    def now():
        return f"Current routing threshold: **{services.editor.threshold:.2f}**"

    show.click(on_show, trial, [plot, summary], **MODEL)
    apply.click(on_set, [trial, reason], status).then(now, None, current)
    return [(now, None, current), writers_only(who, [apply])]
