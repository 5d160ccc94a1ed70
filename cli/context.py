"""Building what commands need from the config: the edit log alone (fast) or full services (models).

The model stack (torch, transformers, gradio) is imported only by the functions that need it, so
commands that only touch the log (`add`, `list`, `retire`, `--help`) start in well under a second
instead of about nine.
"""

from __future__ import annotations

import sys

from core.config import SeracConfig, mask_url_password
from db.accounts import AccountRepository
from db.repository import EditRepository
from services.edit_log import EditLog
from webapp.auth import UserStore


def open_repository(config: SeracConfig) -> EditRepository:
    return EditRepository(
        config.db_url, config.max_prompt_chars, config.db_statement_timeout_ms, config.db_lock_timeout_ms
    )


def open_log(config: SeracConfig) -> EditLog:
    """The edit log's writes and reads without a model (the CLI's log commands)."""
    return EditLog(config, open_repository(config))


def open_users(config: SeracConfig) -> UserStore:
    """The UI/API users in the edit log (no model). A legacy users file is imported first, once, when the
    log has no users yet; that is said on stderr."""
    store = UserStore(AccountRepository(config.db_url))
    imported = store.import_file(config.users_file)
    if imported:
        print(
            f"imported {imported} users and their API tokens from {config.users_file} into the edit log "
            f"{mask_url_password(config.db_url)}; that file is no longer read (keep it as a backup or delete it)",
            file=sys.stderr,
        )
    return store


def open_services(config: SeracConfig):
    """Services (services.services.Services): the repository, the models and an index rebuilt from the log."""
    editor = load_editor(config)
    from services.services import Services

    return Services(config, open_repository(config), editor)


def load_editor(config: SeracConfig):
    """The editor (core.loading.build_editor); the trained parts' files are checked first, so a missing or altered
    file is one line before torch and transformers are even imported (seconds)."""
    from core.shipped import verify_parts

    verify_parts(config)
    from core.loading import build_editor  # heavy: torch and transformers

    return build_editor(config, verified=True)


def serve_forever(services, users, host: str, port: int) -> None:
    """Run the UI and API (users: webapp.auth.UserStore) with uvicorn until interrupted."""
    import uvicorn  # heavy: gradio comes with webapp.server

    from webapp.server import create_server

    # proxy headers: only webapp.client reads them, and only from config.trusted_proxies (uvicorn would believe
    # any X-Forwarded-For from 127.0.0.1 by default)
    uvicorn.run(create_server(services, users), host=host, port=port, log_level="warning", proxy_headers=False)
