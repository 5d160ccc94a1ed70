"""The OpenAPI docs at /docs, served whole by this server: Swagger UI's script, style and icon come from
the pinned `fastapi-offline` package's files, mounted at /docs-assets, so the page works on a machine
with no internet (FastAPI's default page loads them from a CDN and stays blank offline).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"


def install_docs(server: FastAPI, title: str) -> None:
    """GET /docs (Swagger UI on local assets); the server must be built with docs_url=None."""
    server.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @server.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=server.openapi_url or "/openapi.json",
            title=f"{title} — API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
