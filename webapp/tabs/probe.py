"""The Probe tab: ask any prompt, or run an edit's probe set; base vs edited side by side, the routing
decision in words, the top-k scores chart with the threshold, pass/fail per probe, and curator probes."""

from __future__ import annotations

import gradio as gr

from services.services import Services
from webapp.callbacks import edits as edit_cb
from webapp.callbacks import probe as cb
from webapp.figures import empty_figure
from webapp.tabs import MODEL, writers_only


def probe_tab(services: Services, who) -> list[tuple]:
    with gr.Tab("Probe", id="probe"):
        with gr.Row():
            prompt = gr.Textbox(
                label="Prompt",
                scale=4,
                elem_id="probe-prompt",
                placeholder="Where Danielle Darrieux is from, people speak the language of",
            )
            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="probe-button")
        decision = gr.Markdown(elem_id="probe-decision")
        with gr.Row():
            base = gr.Textbox(label="Base model (untouched)", interactive=False, elem_id="probe-base")
            edited = gr.Textbox(label="Edited system (what users get)", interactive=False, elem_id="probe-edited")
        chart = gr.Plot(value=empty_figure("No probe yet"), label="Scope scores", elem_id="probe-chart")
        candidates = gr.Dataframe(headers=list(cb.CANDIDATE_COLUMNS), interactive=False, label="Top-k candidates")
        gr.Markdown("### Probe an edit: its prompt, paraphrases and unrelated prompts")
        with gr.Row():
            picker = gr.Dropdown(
                label="Edit", choices=[], scale=4, elem_id="probe-edit-picker", allow_custom_value=False
            )
            run = gr.Button("Probe this edit", scale=1, elem_id="probe-edit-button")
        summary = gr.Markdown(elem_id="probe-edit-summary")
        results = gr.Dataframe(
            headers=list(cb.PROBE_COLUMNS), interactive=False, wrap=True, label="Probe results", elem_id="probe-results"
        )
        with gr.Row():
            new_probe = gr.Textbox(label="Add a probe prompt to this edit", scale=4, elem_id="probe-new")
            expect = gr.Radio(["in scope", "out of scope"], value="in scope", label="Expect", scale=2)
            keep = gr.Button("Keep with the edit", scale=1, elem_id="probe-keep")
        keep_status = gr.Markdown(elem_id="probe-keep-status")

    def on_ask(text, request: gr.Request):
        return cb.probe_prompt(services, who(request), text)

    def on_run(edit_id, request: gr.Request):
        return cb.probe_edit(services, who(request), edit_id)

    def on_keep(edit_id, text, e, request: gr.Request):
        return cb.add_probe(services, who(request), edit_id, text, e)

    def choices():
        return gr.update(choices=edit_cb.edit_choices(services))

    ask.click(on_ask, prompt, [decision, base, edited, chart, candidates], **MODEL)
    prompt.submit(on_ask, prompt, [decision, base, edited, chart, candidates], **MODEL)
    run.click(on_run, picker, [summary, results, chart], **MODEL)
    keep.click(on_keep, [picker, new_probe, expect], keep_status)
    picker.focus(choices, None, picker)
    return [(choices, None, picker), writers_only(who, [keep])]
