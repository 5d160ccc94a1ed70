"""The Edits tab: add one edit (conflict check, confirm), import a file (progress, each rejected record by
its line or record number), the searchable paged edit log, retire / restore with a reason, change a target.
The Edit tab (one edit's page, webapp/tabs/edit_page.py) follows it: a click on a row of the log opens that
edit's page there, and the page's writes refresh the log."""

from __future__ import annotations

import gradio as gr

from core.datasets import FORMATS
from services.services import Services
from webapp.callbacks import edits as cb
from webapp.files import AppFiles
from webapp.tabs import CELL_CHARS, HEAVY, WRITE, writers_only
from webapp.tabs.edit_page import ADDRESS_JS, SWITCH_JS, EditPage, edit_page_tab

# id, status, prompt, target, subject, notes, updated, updated by: fits 1400 px, long text wraps in its cell
EDIT_WIDTHS = ["5%", "8%", "27%", "15%", "11%", "14%", "12%", "8%"]


def edits_tab(services: Services, who, files: AppFiles | None = None) -> list[tuple]:
    """Lays out the tab; returns the (fn, inputs, outputs) to run when the page loads (the edit table). An upload
    inside the server's own folder (`files`, webapp.files) is deleted once its import has saved it."""
    with gr.Tab("Edits", id="edits"):
        buttons: list = []
        writes = _add_section(services, who, buttons) + _import_section(services, who, buttons, files)
        inputs, outputs, refresh, table, edit_id = _log_section(services, who, buttons)
    page = edit_page_tab(services, who)  # the Edit tab, right after this one
    for event in writes + page.writes:
        event.then(refresh, inputs, outputs)
    _open_on_select(table, edit_id, page)
    return [(refresh, inputs, outputs), writers_only(who, buttons), *page.loads]


def _open_on_select(table, edit_id, page: EditPage) -> None:
    """A click on a row fills the action id here and opens that edit's page in the Edit tab."""

    def on_select(evt: gr.SelectData):
        picked = evt.row_value[0] if evt.row_value else None
        return picked, picked

    picked = table.select(on_select, None, [edit_id, page.id_box]).then(None, js=SWITCH_JS)
    picked.then(page.show, page.id_box, page.outputs, **HEAVY).then(None, page.id_box, None, js=ADDRESS_JS)


def _add_section(services, who, buttons: list) -> list:
    with gr.Accordion("Add an edit", open=True):
        with gr.Row():
            prompt = gr.Textbox(
                label="Prompt", scale=3, elem_id="add-prompt", placeholder="The mother tongue of Danielle Darrieux is"
            )
            target = gr.Textbox(label="New target", scale=2, elem_id="add-target", placeholder="English")
        with gr.Row():
            subject = gr.Textbox(label="Subject (optional)", elem_id="add-subject")
            notes = gr.Textbox(label="Note (optional)", elem_id="add-notes")
        add = gr.Button("Check and add", variant="primary", elem_id="add-button")
        status = gr.Markdown(elem_id="add-status")
        neighbours = gr.Dataframe(
            headers=list(cb.NEIGHBOUR_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            column_widths=["7%", "22%", "7%", "40%", "24%"],
            visible=False,
            label="Neighbours in the edit memory",
            elem_id="add-neighbours",
        )
        with gr.Group(visible=False) as settle_box:
            how = gr.Radio(list(cb.SETTLE_CHOICES), label="Settle the conflict", elem_id="add-settle-how")
            with gr.Row():
                why = gr.Textbox(label="Reason (kept in the audit log)", scale=3, elem_id="add-settle-reason")
                confirm = gr.Button("Settle and save", variant="stop", scale=1, elem_id="add-confirm")
        checked = gr.State(None)

    def shown(message, rows, check):
        ask = check is not None
        saved = not ask and not message.startswith("**Error")  # then the form is cleared for the next edit
        cleared = [gr.update(value="") if saved else gr.update() for _ in range(6)]  # 4 fields, choice, reason
        return message, gr.update(value=rows, visible=ask), gr.update(visible=ask), check, *cleared

    def on_add(p, t, s, n, request: gr.Request):
        return shown(*cb.check_and_add(services, who(request), p, t, s, n))

    def on_confirm(check, p, t, s, n, h, r, request: gr.Request):
        return shown(*cb.settle_and_add(services, who(request), check, p, t, s, n, h or "", r or ""))

    buttons += [add, confirm]
    fields = [prompt, target, subject, notes]
    outputs = [status, neighbours, settle_box, checked, *fields, how, why]
    return [
        add.click(on_add, fields, outputs, **WRITE),
        confirm.click(on_confirm, [checked, *fields, how, why], outputs, **WRITE),
    ]


def _import_section(services, who, buttons: list, files: AppFiles | None) -> list:
    with gr.Accordion("Import a file (JSONL, CSV, CounterFact or zsRE JSON)", open=False):
        with gr.Row():
            upload = gr.File(
                label="File", file_types=[".json", ".jsonl", ".csv"], type="filepath", elem_id="import-file"
            )
            with gr.Column():
                fmt = gr.Dropdown(list(FORMATS), value="auto", label="Format")
                skip = gr.Checkbox(label="Import the valid records even if some are rejected", value=False)
                on_conflict = gr.Dropdown(
                    [
                        ("Reject it (nothing saved)", "refuse"),
                        ("Replace the old edit's target", "replace"),
                        ("Retire the old edit, save the record", "retire"),
                        ("Keep both (reason: the import)", "keep"),
                    ],
                    value="refuse",
                    label="When a record conflicts with an active edit",
                    elem_id="import-on-conflict",
                )
                run = gr.Button("Import", variant="primary", elem_id="import-button")
        status = gr.Markdown(elem_id="import-status")
        errors = gr.Dataframe(
            headers=list(cb.IMPORT_ERROR_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            label="Rejected records",
            elem_id="import-errors",
        )

    def on_import(path, f, s, c, request: gr.Request, progress=gr.Progress()):
        report = lambda frac, desc: progress(frac, desc=desc)  # noqa: E731
        text, rows = cb.import_file(services, who(request), path, f, s, report, c)
        saved = text.startswith("Imported")  # kept otherwise, to import again with other choices
        if saved and files is not None and files.discard(path):
            return text, rows, None  # the upload is deleted: the file box is cleared too
        return text, rows, gr.update()

    buttons.append(run)
    return [run.click(on_import, [upload, fmt, skip, on_conflict], [status, errors, upload], **WRITE)]


def _log_section(services, who, buttons: list):
    with gr.Accordion("Edit log", open=True):
        with gr.Row():
            search = gr.Textbox(label="Search prompt, target, subject or note", scale=3, elem_id="edits-search")
            status = gr.Dropdown(list(cb.STATUSES), value="all", label="Status", scale=1)
            page = gr.Number(value=1, precision=0, minimum=1, label="Page", scale=1, elem_id="edits-page")
            size = gr.Dropdown([10, 20, 50, 100], value=20, label="Per page", scale=1)
            show = gr.Button("Show", scale=1, elem_id="edits-show")
        with gr.Row():
            previous = gr.Button("◀ Newer", size="sm", scale=0, elem_id="edits-previous")
            info = gr.Markdown(elem_id="edits-page-info")
            following = gr.Button("Older ▶", size="sm", scale=0, elem_id="edits-next")
        table = gr.Dataframe(
            headers=list(cb.EDIT_COLUMNS),
            interactive=False,
            wrap=True,
            max_chars=CELL_CHARS,
            column_widths=EDIT_WIDTHS,
            label="Edits",
            elem_id="edits-table",
        )
        with gr.Row():
            edit_id = gr.Textbox(label="Edit id", placeholder="click a row", elem_id="action-id", scale=1)
            reason = gr.Textbox(label="Reason (kept in the audit log)", elem_id="action-reason", scale=3)
            retire = gr.Button("Retire", variant="stop", elem_id="retire-button", scale=1)
            restore = gr.Button("Restore (undo retire)", elem_id="restore-button", scale=1)
        with gr.Row():
            new_target = gr.Textbox(label="New target for this edit", elem_id="change-target", scale=3)
            change = gr.Button("Change target", elem_id="change-button", scale=1)
        action_status = gr.Markdown(elem_id="action-status")

    def refresh(q, st, p, n):
        return cb.edit_page(services, q, st, p, n)

    inputs, outputs = [search, status, page, size], [table, info, page]
    show.click(refresh, inputs, outputs)
    previous.click(lambda q, st, p, n: refresh(q, st, max(1, int(p or 1) - 1), n), inputs, outputs)
    following.click(lambda q, st, p, n: refresh(q, st, int(p or 1) + 1, n), inputs, outputs)
    search.submit(refresh, inputs, outputs)
    gr.on([status.change, size.change], refresh, inputs, outputs)

    def on_retire(i, r, request: gr.Request):
        return cb.retire(services, who(request), i, r)

    def on_restore(i, r, request: gr.Request):
        return cb.restore(services, who(request), i, r)

    def on_change(i, t, r, request: gr.Request):
        return cb.change_target(services, who(request), i, t, r)

    buttons += [retire, restore, change]
    retire.click(on_retire, [edit_id, reason], action_status, **WRITE).then(refresh, inputs, outputs)
    restore.click(on_restore, [edit_id, reason], action_status, **WRITE).then(refresh, inputs, outputs)
    change.click(on_change, [edit_id, new_target, reason], action_status, **WRITE).then(refresh, inputs, outputs)
    return inputs, outputs, refresh, table, edit_id
