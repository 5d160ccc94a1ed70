"""The ASGI server: a FastAPI app with the Gradio UI mounted at '/'.

Invariant: `create_server` builds the app and never starts serving; `app.py` runs it with uvicorn.
"""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from webapp.services import Services
from webapp.ui import build_app


def create_server(services: Services) -> FastAPI:
    server = FastAPI(title="SERAC edit curator", docs_url="/docs", openapi_url="/openapi.json")
    blocks = build_app(services)
    blocks.queue(default_concurrency_limit=1)
    return gr.mount_gradio_app(server, blocks, path="/", footer_links=[], run_history=False, show_error=True)
