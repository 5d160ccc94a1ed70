"""The Audit tab: every add, change, retire, restore, import and setting with who, when, before and after;
filters by edit, user and time; CSV export."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import audit as cb
from webapp.files import AppFiles
from webapp.tabs import CELL_CHARS

# id, when, user, action, edit, change, reason: the change and the reason get the room, the rest their text
AUDIT_WIDTHS = ["5%", "13%", "8%", "8%", "5%", "36%", "25%"]


def audit_tab(services: Services, who, files: AppFiles | None = None) -> list[tuple]:
    """The tab; exports go to the server's own folder (`files`, webapp.files) when it has one."""
    with gr.Tab("Audit", id="audit"):
        with gr.Row():
            edit_id = gr.Textbox(label="Edit id", placeholder="all edits", elem_id="audit-edit")
            actor = gr.Textbox(label="User (any case)", placeholder="all users", elem_id="audit-user")
            since = gr.Textbox(label="Since (UTC, e.g. 2026-11-22 08:00)", elem_id="audit-since")
            until = gr.Textbox(label="Until (UTC)", elem_id="audit-until")
        with gr.Row():
            show = gr.Button("Filter", variant="primary", elem_id="audit-button")
            export = gr.Button("Export CSV", elem_id="audit-export")
        note = gr.Markdown(elem_id="audit-note")
        table = gr.Dataframe(
            headers=list(cb.AUDIT_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            column_widths=AUDIT_WIDTHS,
            label="Audit history",
            elem_id="audit-table",
        )
        download = gr.File(label="CSV", interactive=False, visible=False, height=80, elem_id="audit-file")

    def on_show(e, a, s, u, request: gr.Request):
        return cb.audit_rows(services, who(request), e, a, s, u)

    def on_export(e, a, s, u, request: gr.Request):
        path, note = cb.export_csv(services, who(request), e, a, s, u, files.export_path if files else None)
        return gr.update(value=path, visible=path is not None), note  # the file box shows only with a file

    filters = [edit_id, actor, since, until]
    show.click(on_show, filters, [table, note])
    export.click(on_export, filters, [download, note])
    return [(on_show, filters, [table, note])]
