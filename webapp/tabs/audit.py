"""The Audit tab: every add, change, retire, restore, import and setting with who, when, before and after;
filters by edit, user and time; CSV export."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import audit as cb


def audit_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Audit", id="audit"):
        with gr.Row():
            edit_id = gr.Number(value=None, label="Edit id (blank: all)", precision=0, elem_id="audit-edit")
            actor = gr.Textbox(label="User", elem_id="audit-user")
            since = gr.Textbox(label="Since (UTC, e.g. 2026-11-22 08:00)", elem_id="audit-since")
            until = gr.Textbox(label="Until (UTC)", elem_id="audit-until")
        with gr.Row():
            show = gr.Button("Filter", variant="primary", elem_id="audit-button")
            export = gr.Button("Export CSV", elem_id="audit-export")
        note = gr.Markdown(elem_id="audit-note")
        table = gr.Dataframe(
            headers=list(cb.AUDIT_COLUMNS), interactive=False, wrap=True, label="Audit history", elem_id="audit-table"
        )
        download = gr.File(label="CSV", interactive=False, elem_id="audit-file")

    def on_show(e, a, s, u, request: gr.Request):
        return cb.audit_rows(services, who(request), e, a, s, u)

    def on_export(e, a, s, u, request: gr.Request):
        return cb.export_csv(services, who(request), e, a, s, u)

    filters = [edit_id, actor, since, until]
    show.click(on_show, filters, [table, note])
    export.click(on_export, filters, [download, note])
    return [(on_show, filters, [table, note])]
