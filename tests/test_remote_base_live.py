"""A remote base over real HTTP: a second live instance started with `--base-model openai:FIRST/v1` (the API key
from SERAC_BASE_API_KEY) puts the first instance's OpenAI-compatible routes behind its router. Its unrelated
answers (completions, chats, streams, /api/ask's side-by-side) equal the first instance's; its routed answers
follow its own edits, which the first never sees; once the first stops, base answers are a clear 503 (OpenAI shape
on /v1, {"detail"} on /api) while edits are still saved and routed answers still come from the local model.
core.remote_base.RemoteBase is also driven directly against the first instance (a real OpenAI-compatible server).
"""

from __future__ import annotations

import httpx
import openai
import pytest

from core.config import SeracConfig
from core.remote_base import RemoteBase
from tests.live_server import ROOT, launch

pytestmark = pytest.mark.models

PROMPT, TARGET = "The mother tongue of Ilsa Varnholt is", "Finnish"
UNRELATED, QUESTION = "The capital of France is", "What is the capital of France?"
CHAT = [
    {"role": "system", "content": "You answer with one word."},
    {"role": "user", "content": "What is the capital of Italy?"},
    {"role": "assistant", "content": "Rome."},
    {"role": "user", "content": QUESTION},
]


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    with launch(tmp_path_factory.mktemp("base-instance")) as server:
        yield server


@pytest.fixture(scope="module")
def second(first, tmp_path_factory):
    base = ["--base-model", f"openai:{first.url}/v1"]
    env = {"SERAC_BASE_API_KEY": first.curator_token}
    with launch(tmp_path_factory.mktemp("front-instance"), models_dir=ROOT / "models", extra_args=base, env=env) as s:
        yield s


def _client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.curator_token, max_retries=0, timeout=120)


def _api(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {server.curator_token}"})


def _remote(first) -> RemoteBase:
    return RemoteBase(
        SeracConfig(base_model=f"openai:{first.url}/v1", base_api_key=first.curator_token, base_retries=1)
    )


def test_unrelated_answers_equal_the_base_instances(first, second):
    a, b = _client(first), _client(second)
    for prompt in (UNRELATED, QUESTION):
        mine = b.completions.with_raw_response.create(model="serac", prompt=prompt, max_tokens=16)
        theirs = a.completions.create(model="serac", prompt=prompt, max_tokens=16)
        assert mine.parse().choices[0].text == theirs.choices[0].text != ""
        assert mine.headers["x-serac-route"] == "base"
        assert mine.parse().choices[0].finish_reason == theirs.choices[0].finish_reason
    chat_b = b.chat.completions.create(model="serac", messages=CHAT, max_tokens=12)
    chat_a = a.chat.completions.create(model="serac", messages=CHAT, max_tokens=12)
    assert chat_b.choices[0].message.content == chat_a.choices[0].message.content  # system and history reached it
    assert chat_b.usage.completion_tokens == chat_a.usage.completion_tokens
    streamed = list(b.completions.create(model="serac", prompt=UNRELATED, max_tokens=12, stream=True))
    whole = a.completions.create(model="serac", prompt=UNRELATED, max_tokens=12).choices[0].text
    assert len(streamed) > 3 and "".join(c.choices[0].text for c in streamed) == whole  # passed through as a stream


def test_side_by_side_and_routed_answers_follow_the_front_instances_own_edits(first, second):
    with _api(second) as front, _api(first) as base:
        added = front.post("/api/edits", json={"prompt": PROMPT, "target": TARGET})
        assert added.status_code == 201, added.text
        record = front.post("/api/ask", json={"prompt": PROMPT}).json()
        behind = base.post("/api/ask", json={"prompt": PROMPT}).json()
        assert record["route"] == "counterfactual" and record["edited_answer"] == TARGET
        assert record["base_answer"] == behind["base_answer"] != TARGET  # the side-by-side: the remote's own answer
        assert behind["route"] == "base" and base.get("/api/edits").json()["total"] == 0
        for prompt in (UNRELATED, QUESTION):
            assert (
                front.post("/api/ask", json={"prompt": prompt}).json()["base_answer"]
                == (base.post("/api/ask", json={"prompt": prompt}).json()["base_answer"])
            )
    routed = _client(second).completions.create(model="serac", prompt=PROMPT, max_tokens=16)
    assert routed.choices[0].text.strip() == TARGET and routed.model_extra["serac"]["route"] == "counterfactual"


def test_the_remote_client_against_a_real_openai_compatible_server(first):
    remote = _remote(first)
    assert remote.status() == "reachable" and remote.model() == "serac"  # the first model GET /models lists
    with _api(first) as base:
        expected = [base.post("/api/ask", json={"prompt": q}).json()["base_answer"] for q in (UNRELATED, QUESTION)]
    assert remote.answer([UNRELATED, QUESTION]) == expected
    wrong_key = RemoteBase(SeracConfig(base_model=f"openai:{first.url}/v1", base_api_key="not-a-token"))
    with pytest.raises(Exception, match="refused: HTTP 401") as refused:
        wrong_key.answer([UNRELATED])
    assert refused.value.http_status == 502


def test_a_stopped_base_gives_a_clear_503_and_loses_no_write(first, second):
    first.process.terminate()
    first.process.wait(timeout=30)
    with pytest.raises(openai.InternalServerError) as down:
        _client(second).completions.create(model="serac", prompt=UNRELATED, max_tokens=8)
    assert down.value.status_code == 503
    error = down.value.response.json()["error"]
    assert error["type"] == "server_error" and "is unavailable" in error["message"] and first.url in error["message"]
    with pytest.raises(openai.InternalServerError, match="unavailable"):
        list(_client(second).completions.create(model="serac", prompt=UNRELATED, max_tokens=8, stream=True))
    with _api(second) as front:
        asked = front.post("/api/ask", json={"prompt": UNRELATED})
        assert asked.status_code == 503 and "is unavailable" in asked.json()["detail"]
        saved = front.post("/api/edits", json={"prompt": "The mascot of Brindle College is", "target": "a heron"})
        assert saved.status_code == 201, saved.text
        listed = [e["prompt"] for e in front.get("/api/edits").json()["edits"]]
        assert "The mascot of Brindle College is" in listed
    routed = _client(second).completions.create(model="serac", prompt=PROMPT, max_tokens=16)
    assert routed.choices[0].text.strip() == TARGET  # the local counterfactual model still answers
    assert _remote(first).status().startswith("unreachable: ConnectError")
    assert second.alive()
