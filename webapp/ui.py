"""The Gradio UI: `build_app(services)` lays out the page and wires events to plain callbacks.

Invariant: building the app never launches it and never reads the environment.
"""

from __future__ import annotations

import gradio as gr

from webapp import callbacks
from webapp.services import Services


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="SERAC edit curator", analytics_enabled=False) as app:
        gr.Markdown("# SERAC edit curator")
        _probe_tab(services)
        _edits_tab(services)
    return app


def user_of(request: gr.Request | None) -> str:
    return (request.username if request is not None else None) or "anonymous"


def _probe_tab(services: Services) -> None:
    with gr.Tab("Probe"):
        prompt = gr.Textbox(label="Prompt", placeholder="Where Danielle Darrieux is from, people speak the language of")
        ask = gr.Button("Ask", variant="primary")
        decision = gr.Markdown()
        with gr.Row():
            base = gr.Textbox(label="Base model", interactive=False)
            edited = gr.Textbox(label="Edited system", interactive=False)
        scores = gr.Dataframe(headers=list(callbacks.CANDIDATE_COLUMNS), interactive=False, label="Top-k candidates")

        def on_ask(text: str, request: gr.Request):
            return callbacks.probe(services, text, user_of(request))

        ask.click(on_ask, [prompt], [decision, base, edited, scores], concurrency_id="model", concurrency_limit=1)


def _edits_tab(services: Services) -> None:
    with gr.Tab("Edits"):
        with gr.Row():
            prompt = gr.Textbox(label="Prompt", scale=3)
            target = gr.Textbox(label="New target", scale=2)
        add = gr.Button("Add edit", variant="primary")
        status = gr.Markdown()
        table = gr.Dataframe(headers=list(callbacks.EDIT_COLUMNS), interactive=False, label="Edits",
                             value=lambda: callbacks.edit_rows(services))

        def on_add(p: str, t: str, request: gr.Request):
            return callbacks.add_edit(services, p, t, user_of(request))

        add.click(on_add, [prompt, target], [status, table])
