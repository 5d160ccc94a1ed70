"""The database password never shows: `app.py --help` prints the SERAC_DB_URL default masked, and an error about
a database URL masks its password (issue 16, "Secrets and errors")."""

from __future__ import annotations

import os
import subprocess
import sys

from core.config import mask_url_password
from core.text import hide_password
from tests.test_webapp_auth import APP

SECRET = "s3cret-Pa55"
URL = f"postgresql+psycopg://serac:{SECRET}@127.0.0.1:54329/serac"


def app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(APP), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )


def test_help_shows_the_environment_url_with_its_password_masked():
    shown = app("--help", env={"SERAC_DB_URL": URL})
    assert shown.returncode == 0 and SECRET not in shown.stdout + shown.stderr
    flat = " ".join(shown.stdout.split())
    assert "postgresql+psycopg://serac:***@127.0.0.1:54329/serac" in flat
    assert "SERAC_DB_URL" in flat


def test_an_error_about_the_url_masks_its_password():
    bad = app("--db", f"postgresql://serac:{SECRET}@db.example:not-a-port/serac", "list")
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert SECRET not in bad.stderr and "postgresql://serac:***@db.example:not-a-port/serac" in bad.stderr


def test_masking_helpers_cover_encoded_passwords():
    url = "postgresql://u:p%40ss-word@h/db"
    assert mask_url_password(url) == "postgresql://u:***@h/db"
    assert hide_password(f"failed for {url}: p@ss-word", url) == "failed for postgresql://u:***@h/db: ***"
    assert hide_password("no password here", "sqlite:///data/edits.sqlite") == "no password here"
