"""The Overview tab (the first one): edits by status, which trained parts serve, every failing probe with
the reason in words (each linked to its edit's page), and the newest activity."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import overview as cb
from webapp.tabs import CELL_CHARS, HEAVY


def overview_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Overview", id="overview"):
        with gr.Row(equal_height=True):
            status = gr.Markdown(elem_id="overview-status")
            with gr.Column(scale=0, min_width=220):
                refresh = gr.Button("Refresh", elem_id="overview-refresh")
                everything = gr.Button("Check every probe", elem_id="overview-check-all")
        gr.Markdown("### Failing probes")
        note = gr.Markdown(elem_id="overview-failing-note")
        failing = gr.Dataframe(
            headers=list(cb.FAILING_COLUMNS),
            datatype=cb.FAILING_TYPES,
            column_widths=["6%", "11%", "31%", "14%", "38%"],
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            label="Failing probes (an edit's link opens its page in a new browser tab)",
            elem_id="overview-failing",
        )
        gr.Markdown("### Recent activity")
        recent = gr.Dataframe(
            headers=list(cb.RECENT_COLUMNS),
            column_widths=["13%", "9%", "8%", "6%", "38%", "26%"],  # when, user, action, edit, change, reason
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            label="The newest audit entries",
            elem_id="overview-recent",
        )

    def on_load(request: gr.Request):
        return cb.overview(services, who(request))

    def on_check_all(request: gr.Request):
        return cb.overview(services, who(request), limit=None)

    outputs = [status, note, failing, recent]
    refresh.click(on_load, None, outputs, **HEAVY)
    everything.click(on_check_all, None, outputs, **HEAVY)
    return [(on_load, None, outputs)]
