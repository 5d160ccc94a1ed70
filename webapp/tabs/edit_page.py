"""The Edit tab: one edit's page (details, probe set with pass/fail, neighbours, its own history) with its
actions in one place (retire, restore, change target, add a probe). It opens from its id box, from a row of
the Edits table (webapp/tabs/edits.py wires that), or from the address `/?edit=12`; opening an edit puts its
address in the browser's location bar, so the page can be bookmarked or sent.

Invariant: the action buttons are enabled only for a curator and only when they apply (Retire for an active
edit, Restore for a retired one); the callbacks refuse a viewer anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from services.services import Services
from webapp.callbacks import edit_page as cb
from webapp.tabs import CELL_CHARS, HEAVY, WRITE

TAB_ID = "edit"
# Switch to this tab from the browser (its button's id is the tab's elem_id + "-button"), and show the
# open edit's address in the location bar.
SWITCH_JS = "() => { document.querySelector('#edit-page-button')?.click(); }"
ADDRESS_JS = "(id) => { if (id) { history.replaceState(null, '', '?edit=' + id); } }"


@dataclass(frozen=True)
class EditPage:
    """What other tabs use: the id box, the outputs a view fills, the view function, and the writes."""

    id_box: gr.Number
    outputs: list
    show: object  # (edit_id, request) -> the outputs' values
    writes: list  # events after which the edit table should refresh
    loads: list  # (fn, inputs, outputs) to run when the page loads: the edit named in the address


def edit_page_tab(services: Services, who) -> EditPage:
    with gr.Tab("Edit", id=TAB_ID, elem_id="edit-page"):
        page_id, go = _opener()
        with gr.Row():
            with gr.Column(scale=2):
                details = gr.Markdown(cb.CHOOSE, elem_id="page-details")
            with gr.Column(scale=3):
                buttons, fields = _actions()
                status = gr.Markdown(elem_id="page-status")
        summary, probes, neighbours, history = _tables()
    reason, target, probe, expect = fields
    outputs = [details, summary, probes, neighbours, history, *buttons, status, reason, target, probe]

    def shown(view: cb.EditView, message: str = "") -> tuple:
        """The page's outputs; the typed fields are cleared unless the message is an error (then kept)."""
        allowed = (view.can_retire, view.can_restore, view.can_change, view.can_change)
        keep = message.startswith("**Error")
        typed = (gr.update() if keep else gr.update(value="") for _ in range(3))
        return (*view.outputs(), *(gr.update(interactive=a) for a in allowed), message, *typed)

    def show(edit_id, request: gr.Request):
        return shown(cb.open_edit(services, who(request), edit_id))

    def from_url(request: gr.Request):
        edit_id, view = cb.open_from_url(services, who(request), dict(request.query_params))
        return (edit_id, *shown(view))

    def on_retire(edit_id, reason, request: gr.Request):
        message, view = cb.retire(services, who(request), edit_id, reason)
        return shown(view, message)

    def on_restore(edit_id, reason, request: gr.Request):
        message, view = cb.restore(services, who(request), edit_id, reason)
        return shown(view, message)

    def on_change(edit_id, target, reason, request: gr.Request):
        message, view = cb.change_target(services, who(request), edit_id, target, reason)
        return shown(view, message)

    def on_keep(edit_id, prompt, expect, request: gr.Request):
        message, view = cb.add_probe(services, who(request), edit_id, prompt, expect)
        return shown(view, message)

    for opener in (go.click, page_id.submit):
        opener(show, page_id, outputs, **HEAVY).then(None, page_id, None, js=ADDRESS_JS)
    writes = [
        buttons[0].click(on_retire, [page_id, reason], outputs, **WRITE),
        buttons[1].click(on_restore, [page_id, reason], outputs, **WRITE),
        buttons[2].click(on_change, [page_id, target, reason], outputs, **WRITE),
        buttons[3].click(on_keep, [page_id, probe, expect], outputs, **WRITE),
    ]
    return EditPage(page_id, outputs, show, writes, [(from_url, None, [page_id, *outputs])])


def _tables() -> tuple:
    """The probe set summary and the probe, neighbour and history tables."""
    summary = gr.Markdown(elem_id="page-probe-summary")
    probes = gr.Dataframe(
        headers=list(cb.PROBE_COLUMNS),
        column_widths=["11%", "29%", "14%", "7%", "8%", "31%"],
        interactive=False,
        wrap=True,
        max_chars=CELL_CHARS,
        label="Probe set",
        elem_id="page-probes",
    )
    neighbours = gr.Dataframe(
        headers=list(cb.NEIGHBOUR_COLUMNS),
        column_widths=["8%", "10%", "10%", "44%", "18%", "10%"],
        interactive=False,
        wrap=True,
        max_chars=CELL_CHARS,
        label="Neighbours in the edit memory (nearest prompts; their scope score for this edit's prompt)",
        elem_id="page-neighbours",
    )
    history = gr.Dataframe(
        headers=list(cb.HISTORY_COLUMNS),
        column_widths=["14%", "10%", "9%", "40%", "27%"],  # when, user, action, change, reason
        interactive=False,
        wrap=True,
        max_chars=CELL_CHARS,
        label="History",
        elem_id="page-history",
    )
    return summary, probes, neighbours, history


def _opener() -> tuple[gr.Number, gr.Button]:
    """The id box and its Open button."""
    with gr.Row(equal_height=True):
        page_id = gr.Number(
            value=None,
            precision=0,
            minimum=1,
            label="Edit id",
            show_label=False,
            placeholder="Edit id",
            scale=1,
            min_width=120,
            elem_id="page-id",
        )
        go = gr.Button("Open", scale=0, min_width=100, elem_id="page-open")
        gr.Markdown("or click a row of the Edits tab; the address bar then opens this edit directly.")
    return page_id, go


def _actions() -> tuple[list, list]:
    """The action rows; every button starts disabled until an edit is open (and the user may write)."""
    with gr.Row(equal_height=True):
        reason = text("Reason (kept in the audit log)", "page-reason")
        retire = gr.Button("Retire", variant="stop", interactive=False, scale=1, elem_id="page-retire")
        restore = gr.Button("Restore", interactive=False, scale=1, elem_id="page-restore")
    with gr.Row(equal_height=True):
        target = text("New target", "page-target")
        change = gr.Button("Change target", interactive=False, scale=2, elem_id="page-change")
    with gr.Row(equal_height=True):
        probe = text("A probe prompt to keep with this edit", "page-probe-new")
        keep = gr.Button("Add probe", interactive=False, scale=2, elem_id="page-keep")
    expect = gr.Radio(["in scope", "out of scope"], value="in scope", label="The probe is expected", container=False)
    return [retire, restore, change, keep], [reason, target, probe, expect]


def text(label: str, elem_id: str) -> gr.Textbox:
    """A one-line text box labelled by its placeholder (and its aria label), as tall as the buttons beside it."""
    return gr.Textbox(placeholder=label, label=label, show_label=False, scale=4, elem_id=elem_id)


def tab_for_url(request: gr.Request):
    """On page load: select the Edit tab when the address names an edit (`/?edit=12`)."""
    return gr.Tabs(selected=TAB_ID) if request.query_params.get("edit") else gr.update()
