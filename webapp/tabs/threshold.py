"""The Threshold tab: in-scope recall and out-of-scope rejection of the probe set vs threshold, the probes
that flip at the tried value, and setting it (confirmed first, logged).

Invariant: Set only asks; the change happens on Confirm, with the value that was asked about (moving the
slider afterwards changes nothing until Set is pressed again); the "current" line, the plot and the flips
then show the threshold that serves.
"""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import threshold as cb
from webapp.figures import empty_figure
from webapp.tabs import CELL_CHARS, HEAVY, writers_only


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
        flips = gr.Dataframe(
            headers=list(cb.FLIP_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            column_widths=["34%", "7%", "10%", "17%", "18%", "14%"],
            label="Probes whose routing changes at the tried threshold",
            elem_id="threshold-flips",
        )
        with gr.Row():
            reason = gr.Textbox(label="Reason (kept in the audit log)", scale=4, elem_id="threshold-reason")
            apply = gr.Button("Set this threshold", variant="stop", scale=1, elem_id="threshold-set")
        with gr.Column(visible=False, variant="panel", elem_id="threshold-confirm-box") as confirm_box:
            question = gr.Markdown(elem_id="threshold-question")
            with gr.Row():
                confirm = gr.Button("Confirm: set it for everyone", variant="stop", elem_id="threshold-confirm")
                cancel = gr.Button("Cancel", elem_id="threshold-cancel")
        status = gr.Markdown(elem_id="threshold-status")
        pending = gr.State(None)

    def on_show(t, request: gr.Request):
        return cb.threshold_view(services, who(request), t)

    def on_ask_set(t, request: gr.Request):
        text, value = cb.ask_to_set(services, who(request), t)
        asking = value is not None
        return gr.update(visible=asking), text if asking else "", value, "" if asking else text

    def on_confirm_set(value, r, request: gr.Request):
        message = cb.set_threshold(services, who(request), value, r)
        return gr.update(visible=False), None, message, cb.serving_line(services)

    def now():
        return cb.serving_line(services)

    views = [plot, summary, flips]
    show.click(on_show, trial, views, **HEAVY)
    apply.click(on_ask_set, trial, [confirm_box, question, pending, status])
    confirm.click(on_confirm_set, [pending, reason], [confirm_box, pending, status, current]).then(
        on_show, trial, views, **HEAVY
    )
    cancel.click(lambda: (gr.update(visible=False), None, "Nothing changed."), None, [confirm_box, pending, status])
    return [(now, None, current), writers_only(who, [apply, confirm])]
