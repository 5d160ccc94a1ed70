"""The Gradio UI: `build_app(services, users)` lays out the page, one function per tab, and wires events to
plain callbacks (webapp/callbacks/).

Invariants: building the app never launches it and never reads the environment; every callback acts as
the logged-in user (`who(request)`), so the audit log records the real user; without a user store
(`users=None`) everyone is a read-only viewer.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from services.services import Services
from webapp.auth import User, UserStore
from webapp.callbacks.overview import models_line
from webapp.failures import shield_callbacks
from webapp.files import AppFiles
from webapp.shown import md
from webapp.tabs.audit import audit_tab
from webapp.tabs.edit_page import tab_for_url
from webapp.tabs.edits import edits_tab
from webapp.tabs.overview import overview_tab
from webapp.tabs.probe import probe_tab
from webapp.tabs.scope_map import scope_map_tab
from webapp.tabs.threshold import threshold_tab

TABS = (overview_tab, edits_tab, probe_tab, scope_map_tab, threshold_tab, audit_tab)


def build_app(services: Services, users: UserStore | None = None, files: AppFiles | None = None) -> gr.Blocks:
    """The page; `files` (webapp.files) is where uploads are discarded from and exports written, when served."""
    who = user_resolver(users)
    extras = {audit_tab: {"files": files}, edits_tab: {"files": files}}
    with gr.Blocks(title="SERAC edit curator", analytics_enabled=False) as app:
        with gr.Row():
            gr.Markdown("# SERAC edit curator", elem_id="title")
            signed_in = gr.Markdown(elem_id="signed-in")
            gr.Button("Log out", link="/logout", size="sm", scale=0, elem_id="logout")
        with gr.Tabs(elem_id="tabs") as tabs:
            loads = [hook for tab in TABS for hook in tab(services, who, **extras.get(tab, {}))]

        def whoami(request: gr.Request):
            user = who(request)
            rights = "can edit" if user.can_write else "read and probe only"
            return f"Signed in as **{md(user.name)}** ({user.role}: {rights})  \n{md(models_line(services))}"

        app.load(whoami, None, signed_in)
        app.load(tab_for_url, None, tabs, queue=False)  # `/?edit=12` opens that edit's page at once
        for fn, inputs, outputs in loads:
            app.load(fn, inputs, outputs)
    shield_callbacks(app)  # an unexpected error reaches the page as "internal error, id ..." (webapp.failures)
    return app


def user_resolver(users: UserStore | None) -> Callable[[gr.Request | None], User]:
    """request -> User: the user store's entry for the logged-in name, else a viewer."""

    def who(request: gr.Request | None) -> User:
        name = getattr(request, "username", None) if request is not None else None
        known = users.get(name) if users is not None and name else None
        return known or User(name or "anonymous", "viewer")

    return who
