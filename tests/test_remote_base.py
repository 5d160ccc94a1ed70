"""core.remote_base without a model server: the config names an openai:URL base and keeps its key out of reports,
a base nobody answers at is a clear BaseUnavailable (503) after the bounded retries, and the UI header says so."""

from __future__ import annotations

import time

import pytest

from core.config import SeracConfig
from core.errors import ConfigError
from core.remote_base import BaseUnavailable, RemoteBase
from db.repository import EditRepository
from services.services import Services
from tests.live_server import free_port
from tests.tiny_models import tiny_editor
from webapp.callbacks.overview import models_line


def _closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


def test_config_names_the_server_and_never_shows_the_key():
    config = SeracConfig(base_model="openai:http://127.0.0.1:8000/v1/", base_api_key="sk-secret")
    assert config.remote_base_url == "http://127.0.0.1:8000/v1"
    assert config.counterfactual_name == "smollm2-135m-instruct"  # no local base weights to share
    assert "sk-secret" not in repr(config) and config.public_dict()["base_api_key"] == "***"
    assert SeracConfig().remote_base_url is None and SeracConfig().counterfactual_name == "smollm2-135m-instruct"
    with pytest.raises(ConfigError, match="http:// or https://"):
        SeracConfig(base_model="openai:localhost:8000")
    with pytest.raises(ConfigError, match="base_retries"):
        SeracConfig(base_model="openai:http://h/v1", base_retries=11)


def test_a_base_nobody_answers_is_a_clear_503_after_bounded_retries():
    url = _closed_url()
    remote = RemoteBase(SeracConfig(base_model=f"openai:{url}", base_model_name="m", base_retries=2))
    t0 = time.monotonic()
    with pytest.raises(BaseUnavailable, match="is unavailable .*ConnectError.* after 3 tries") as down:
        remote.answer(["The capital of France is"])
    assert down.value.http_status == 503 and url in str(down.value)
    assert 0.7 <= time.monotonic() - t0 < 10  # backoff 0.25 s + 0.5 s, then it gives up
    assert remote.status().startswith("unreachable: ConnectError")


def test_the_header_shows_a_remote_bases_url_and_state(tmp_path):
    url, db = _closed_url(), f"sqlite:///{tmp_path / 'h.sqlite'}"
    config = SeracConfig(db_url=db, device="cpu", base_model=f"openai:{url}", base_retries=0)
    editor = tiny_editor(tmp_path / "lm")
    editor.base = RemoteBase(config)
    line = models_line(Services(config, EditRepository(db), editor))
    assert f"base model: openai:{url} (unreachable: ConnectError" in line
