"""The ASGI server: a FastAPI app with the JSON API under /api, the OpenAI-compatible routes under /v1, OpenAPI docs
at /docs and the Gradio UI at '/'.

Invariants: `create_server` builds the app and never starts serving (`app.py` runs it with uvicorn); the UI
needs a login (the users file) and /api a bearer token, so anonymous requests can neither read nor write;
uploads and exports live in one folder the server owns (webapp.files), removed at shutdown;
only the server's own origin and `config.allowed_origins` may call it from a browser (webapp.origin, outermost);
heavy reads are admitted or refused by services.heavy and writes have their own group (webapp.tabs.HEAVY, WRITE).
the client address is resolved first (webapp.client; X-Forwarded-For only from `config.trusted_proxies`), and
UI logins back off per address and name (webapp.login_limit: 429 with Retry-After), last
`config.session_lifetime_s` and end when their user is removed (webapp.sessions); an unexpected exception
reaches the client as one line with an id, its traceback only in the server log (webapp.failures).
"""

from __future__ import annotations

import asyncio

import gradio as gr
from fastapi import FastAPI, HTTPException
from starlette.middleware.cors import CORSMiddleware

from core.errors import DatabaseUnavailable, StorageFull
from services.services import Services
from webapp.api import install_api
from webapp.auth import LoginBackoff, UserStore
from webapp.client import CLIENT_ADDRESS, ClientAddressMiddleware
from webapp.docs import install_docs
from webapp.failures import InternalErrorMiddleware
from webapp.files import AppFiles, wrap_lifespan
from webapp.openai_api import install_openai
from webapp.origin import SameOriginMiddleware
from webapp.passwords import dummy_hash
from webapp.sessions import install_sessions
from webapp.ui import build_app

TITLE = "SERAC edit curator"
# System fonts only: no web font to fetch (offline the title rendered in mixed glyphs), no outside request.
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "DejaVu Sans", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "monospace"]
MAX_UPLOAD = "32mb"  # largest file the UI accepts for bulk import; Gradio rejects bigger ones with a clear error
AUTH_MESSAGE = (
    "SERAC edit curator: sign in with your curator or viewer account. After several wrong passwords, logins from "
    "your address wait a little longer each time (up to 5 minutes); the page then says Incorrect Credentials."
)


def create_server(services: Services, users: UserStore, files: AppFiles | None = None) -> FastAPI:
    """The app; `files` (webapp.files: uploads and exports, swept by age and removed at shutdown) is made in
    config.temp_dir when not given."""
    config = services.config
    files = files or AppFiles(config.temp_dir, config.temp_max_age_s)
    files.own_gradio_files()  # before the UI is built: its components read Gradio's folder
    server = FastAPI(
        title=TITLE,
        docs_url=None,  # webapp.docs serves /docs on local assets
        redoc_url=None,
        openapi_url="/openapi.json",
        description="Curate SERAC edits: create, list, retire and restore edits; ask a prompt for "
        "its routing record. Send `Authorization: Bearer TOKEN`.",
    )
    server.add_middleware(InternalErrorMiddleware)  # innermost: sees what the routes and handlers let escape
    install_docs(server, TITLE)
    install_api(server, services, users)
    install_openai(server, services, users)  # /v1: the OpenAI-compatible routes
    blocks = build_app(services, users, files)
    blocks.queue(default_concurrency_limit=4)
    blocks.delete_cache = (int(files.sweep_every_s), int(files.max_age_s))  # Gradio's own copies, by age

    login = gradio_login(users)
    app = gr.mount_gradio_app(
        server,
        blocks,
        path="/",
        footer_links=[],
        run_history=False,
        show_error=True,
        auth=login,
        auth_message=AUTH_MESSAGE,
        mcp_server=False,
        max_file_size=MAX_UPLOAD,
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS),
    )
    install_sessions(app, services.config.session_lifetime_s, lambda name: users.get(name) is not None)
    _same_origin(app, services.config.allowed_origins)
    wrap_lifespan(app, files.swept)  # our sweep while serving; the whole folder removed at shutdown
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=services.config.trusted_proxies)  # outermost
    return app


def gradio_login(users: UserStore):
    """Gradio's login check, as a coroutine so the password hash runs in a worker thread, not on the event loop;
    a login during a backoff is answered 429 with Retry-After (Gradio answers a wrong password with 400), and one
    while the database is down or full 503 / 507 with its one line (not "Incorrect Credentials", not a trace)."""
    dummy_hash()  # made now, so the first unknown name costs no more than any other

    async def login(username: str, password: str) -> bool:
        address = CLIENT_ADDRESS.get()
        try:
            return await asyncio.to_thread(users.authenticate, username, password, address) is not None
        except LoginBackoff as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
        except (DatabaseUnavailable, StorageFull) as exc:
            raise HTTPException(exc.http_status, str(exc)) from None

    return login


def _same_origin(app: FastAPI, allowed: tuple[str, ...]) -> None:
    """Starlette's CORS for the allowed origins only (Gradio then adds no CORS of its own, which would echo any
    Origin with credentials), inside the same-origin guard that refuses every other foreign Origin."""
    app.add_middleware(
        CORSMiddleware, allow_origins=list(allowed), allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
    )
    app.add_middleware(SameOriginMiddleware, allowed_origins=allowed)
