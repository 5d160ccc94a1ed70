"""The Probe tab: ask any prompt, or run an edit's probe set; base vs edited side by side, the routing
decision in words, the top-k scores chart with the threshold, pass/fail per probe, and curator probes.

Layout rule: each part shows its results together and only once it has some. The answer boxes, score chart
and candidates appear after an Ask; the probe set's pass/fail table (result first, coloured) and its own
chart appear after "Probe this edit", next to each other, never beside empty answer boxes.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from services.services import Services
from webapp.callbacks import edits as edit_cb
from webapp.callbacks import probe as cb
from webapp.figures import empty_figure
from webapp.tabs import CELL_CHARS, HEAVY, writers_only

VERDICT_STYLE = {
    "pass": "background-color: #c8e6c9; color: #1b5e20",
    "fail": "background-color: #ffcdd2; color: #b71c1c",
}
RESULT_WIDTHS = ["7%", "9%", "22%", "10%", "7%", "22.5%", "22.5%"]  # the columns of cb.PROBE_COLUMNS


def coloured(rows: list[list]):
    """The probe results with each pass/fail cell coloured (green / red); a plain list when there are none."""
    if not rows:
        return rows
    frame = pd.DataFrame(rows, columns=list(cb.PROBE_COLUMNS))
    return frame.style.map(lambda v: VERDICT_STYLE.get(v, ""), subset=["result"]).format(precision=4)


def probe_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Probe", id="probe"):
        gr.Markdown("### Ask one prompt")
        with gr.Row():
            prompt = gr.Textbox(
                label="Prompt",
                scale=4,
                elem_id="probe-prompt",
                placeholder="Where Danielle Darrieux is from, people speak the language of",
            )
            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="probe-button")
        decision = gr.Markdown(elem_id="probe-decision")
        with gr.Column(visible=False, elem_id="probe-answer-box") as answer_box:
            with gr.Row():
                base = gr.Textbox(label="Base model (untouched)", interactive=False, elem_id="probe-base")
                edited = gr.Textbox(label="Edited system (what users get)", interactive=False, elem_id="probe-edited")
            chart = gr.Plot(value=empty_figure("No probe yet"), label="Scope scores", elem_id="probe-chart")
            candidates = gr.Dataframe(
                headers=list(cb.CANDIDATE_COLUMNS),
                interactive=False,
                wrap=True,
                max_chars=CELL_CHARS,
                column_widths=["8%", "8%", "9%", "40%", "35%"],
                label="Top-k candidates",
                elem_id="probe-candidates",
            )
        gr.Markdown("### Probe an edit: its prompt, paraphrases and unrelated prompts")
        with gr.Row():
            picker = gr.Dropdown(
                label="Edit", choices=[], scale=4, elem_id="probe-edit-picker", allow_custom_value=False
            )
            run = gr.Button("Probe this edit", scale=1, elem_id="probe-edit-button")
        summary = gr.Markdown(elem_id="probe-edit-summary")
        with gr.Column(visible=False, elem_id="probe-set-box") as set_box:
            results = gr.Dataframe(
                headers=list(cb.PROBE_COLUMNS),
                interactive=False,
                wrap=True,
                max_chars=CELL_CHARS,
                column_widths=RESULT_WIDTHS,
                label="Probe results",
                elem_id="probe-results",
            )
            set_chart = gr.Plot(label="Probe set scores", elem_id="probe-set-chart")
        with gr.Row():
            new_probe = gr.Textbox(label="Add a probe prompt to this edit", scale=4, elem_id="probe-new")
            expect = gr.Radio(["in scope", "out of scope"], value="in scope", label="Expect", scale=2)
            keep = gr.Button("Keep with the edit", scale=1, elem_id="probe-keep")
        keep_status = gr.Markdown(elem_id="probe-keep-status")

    def on_ask(text, request: gr.Request):
        shown = cb.probe_prompt(services, who(request), text)
        return *shown, gr.update(visible=not shown[0].startswith("**Error"))

    def on_run(edit_id, request: gr.Request):
        text, rows, figure = cb.probe_edit(services, who(request), edit_id)
        return text, coloured(rows), figure, gr.update(visible=bool(rows))

    def on_keep(edit_id, text, e, request: gr.Request):
        return cb.add_probe(services, who(request), edit_id, text, e)

    def choices():
        return gr.update(choices=edit_cb.edit_choices(services))

    asked = [decision, base, edited, chart, candidates, answer_box]
    ask.click(on_ask, prompt, asked, **HEAVY)
    prompt.submit(on_ask, prompt, asked, **HEAVY)
    run.click(on_run, picker, [summary, results, set_chart, set_box], **HEAVY)
    keep.click(on_keep, [picker, new_probe, expect], keep_status)
    picker.focus(choices, None, picker)
    return [(choices, None, picker), writers_only(who, [keep])]
