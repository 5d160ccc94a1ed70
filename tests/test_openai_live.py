"""The OpenAI-compatible routes against the running server (shipped parts), through the official `openai` client:
an edited fact answered with its new target and the routing in the `serac` field and X-Serac-* headers, an
unrelated prompt answered by the base model exactly as /api/ask answers it, chat with system message and history,
streaming, max_tokens / stop / seeded sampling, 401 without a token, and errors in the OpenAI shape that change
nothing and leave the server up.
"""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest

pytestmark = pytest.mark.models

PROMPT, TARGET = "The mother tongue of Ilsa Varnholt is", "Finnish"
PARAPHRASE = "Where Ilsa Varnholt is from, people speak the language of"
UNRELATED = "The capital of France is"
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def client(live_server) -> openai.OpenAI:
    yield openai.OpenAI(base_url=live_server.url + "/v1", api_key=live_server.curator_token, max_retries=0)
    assert live_server.alive(), "the server must stay up through the OpenAI tests"


@pytest.fixture(scope="module")
def api(live_server):
    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    with httpx.Client(base_url=live_server.url, timeout=120, headers=headers) as http:
        yield http


@pytest.fixture(scope="module")
def edit(api) -> dict:
    response = api.post("/api/edits", json={"prompt": PROMPT, "target": TARGET})
    assert response.status_code == 201, response.text
    return response.json()["edit"]


def test_models_and_openapi_describe_the_routes(client, live_server):
    assert [m.id for m in client.models.list().data] == ["serac"]
    schema = httpx.get(live_server.url + "/openapi.json").json()
    assert {"/v1/models", "/v1/completions", "/v1/chat/completions"} <= set(schema["paths"])
    fields = schema["components"]["schemas"]["CompletionRequest"]["properties"]
    assert {"model", "prompt", "max_tokens", "temperature", "stop", "stream", "n", "seed"} <= set(fields)
    assert "serac" in schema["components"]["schemas"]["ChatCompletion"]["properties"]


def test_an_edited_fact_is_answered_with_its_new_target_and_the_routing(client, edit):
    raw = client.completions.with_raw_response.create(model="serac", prompt=PROMPT, max_tokens=16)
    completion = raw.parse()
    assert completion.choices[0].text.strip() == TARGET and completion.choices[0].finish_reason == "stop"
    serac = completion.model_extra["serac"]
    assert serac["route"] == "counterfactual" and serac["edit_id"] == edit["id"] and serac["score"] >= 0.5
    assert raw.headers["x-serac-route"] == "counterfactual" and raw.headers["x-serac-edit-id"] == str(edit["id"])
    assert float(raw.headers["x-serac-score"]) == pytest.approx(serac["score"], abs=1e-6)
    usage = completion.usage
    assert usage.completion_tokens >= 1 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_chat_paraphrase_routes_on_its_last_user_message(client, edit):
    messages = [
        {"role": "system", "content": "You answer with one word."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": PARAPHRASE},
    ]
    chat = client.chat.completions.create(model="serac", messages=messages)
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content == TARGET
    assert chat.model_extra["serac"]["edit_id"] == edit["id"]


def test_an_unrelated_prompt_gets_the_base_models_answer_as_api_ask_gives_it(client, api, edit):
    for prompt in (UNRELATED, QUESTION):
        base = api.post("/api/ask", json={"prompt": prompt}).json()
        raw = client.completions.with_raw_response.create(model="serac", prompt=prompt, max_tokens=16, stop="\n")
        completion = raw.parse()
        assert base["route"] == "base" and completion.choices[0].text.strip() == base["base_answer"] != ""
        assert completion.model_extra["serac"]["route"] == "base" and completion.model_extra["serac"]["edit_id"] is None
        assert raw.headers["x-serac-route"] == "base" and "x-serac-edit-id" not in raw.headers
    chat = client.chat.completions.create(model="serac", messages=[{"role": "user", "content": QUESTION}], stop="\n")
    assert chat.choices[0].message.content == base["base_answer"]  # one user turn: the same chat prompt as /api/ask


def test_streams_carry_the_same_answer_routing_and_usage(client, edit):
    messages = [{"role": "user", "content": PARAPHRASE}]
    raw = client.chat.completions.with_raw_response.create(
        model="serac", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-serac-edit-id"] == str(edit["id"])
    chunks = list(raw.parse())
    assert (
        chunks[0].model_extra["serac"]["route"] == "counterfactual" and chunks[0].choices[0].delta.role == "assistant"
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TARGET and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
    whole = client.completions.create(model="serac", prompt=UNRELATED, max_tokens=12).choices[0].text
    streamed = list(client.completions.create(model="serac", prompt=UNRELATED, max_tokens=12, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == whole and streamed[-1].choices[0].finish_reason == "length"
    assert streamed[0].model_extra["serac"]["route"] == "base" and "serac" not in streamed[1].model_extra


def test_max_tokens_stop_and_seeded_sampling(client):
    short = client.completions.create(model="serac", prompt=UNRELATED, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3
    whole = client.completions.create(model="serac", prompt=UNRELATED, max_tokens=12).choices[0].text
    stop = whole.split()[1]  # the second word of the greedy answer
    cut = client.completions.create(model="serac", prompt=UNRELATED, max_tokens=12, stop=[stop, "@@"])
    assert cut.choices[0].text == whole[: whole.index(stop)] and cut.choices[0].finish_reason == "stop"

    def sample(seed: int) -> str:
        settings = {"temperature": 1.0, "seed": seed, "max_tokens": 12}
        return client.completions.create(model="serac", prompt="Once upon a time", **settings).choices[0].text

    assert sample(11) == sample(11)


def test_anonymous_and_bad_tokens_get_401(live_server):
    for key in ("", "not-a-token"):
        anonymous = openai.OpenAI(base_url=live_server.url + "/v1", api_key=key or "x", max_retries=0)
        if not key:
            anonymous = anonymous.with_options(default_headers={"Authorization": ""})
        with pytest.raises(openai.AuthenticationError, match="token"):
            anonymous.models.list()
        with pytest.raises(openai.AuthenticationError):
            anonymous.chat.completions.create(model="serac", messages=[{"role": "user", "content": QUESTION}])
    # judged before the body: an anonymous, invalid body is still a 401, not a 400
    response = httpx.post(live_server.url + "/v1/completions", json={"n": "many"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_bad_requests_get_the_openai_error_shape_and_write_nothing(client, api, live_server, edit):
    before = _rows(live_server)
    assert client.completions.create(model="serac", prompt=PROMPT, max_tokens=4).choices[0].text.strip() == TARGET
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="serac", prompt=UNRELATED, n=2)
    assert err.value.body["param"] == "n" and "n must be 1" in err.value.body["message"]
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="gpt-4o", prompt=UNRELATED)
    assert err.value.body["code"] == "model_not_found" and err.value.body["param"] == "model"
    cases = [
        ({"model": "serac"}, "prompt"),
        ({"model": "serac", "prompt": UNRELATED, "temperature": 9}, "temperature"),
        ({"model": "serac", "prompt": "   "}, "prompt"),  # the schema's rule for the field, so the field is named
        ({"model": "serac", "prompt": [UNRELATED, QUESTION]}, "prompt"),
        ({"model": "serac", "prompt": UNRELATED, "stop": [""]}, "stop"),
        ({"model": "serac", "prompt": UNRELATED, "logprobs": 2}, "logprobs"),
    ]
    for body, param in cases:
        response = api.post("/v1/completions", json=body)
        error = response.json()["error"]
        assert response.status_code == 400 and error["type"] == "invalid_request_error", (body, response.text)
        assert error["param"] == param and error["message"], body
    chat = api.post("/v1/chat/completions", json={"model": "serac", "messages": [{"role": "system", "content": "x"}]})
    assert chat.status_code == 400 and "role 'user'" in chat.json()["error"]["message"]
    broken = api.post("/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    huge = api.post("/v1/completions", json={"model": "serac", "prompt": "x" * (2 << 20)})
    assert huge.status_code == 413 and "larger than the limit" in huge.json()["error"]["message"]
    latin1 = api.post("/v1/completions", content='{"prompt": "café"}'.encode("latin-1"))
    assert latin1.status_code == 400 and "UTF-8" in latin1.json()["error"]["message"]
    assert api.get("/v1/completions").status_code == 405 and api.get("/v1/nowhere").status_code == 404
    assert _rows(live_server) == before  # neither the answers above nor the refusals wrote to the edit log


def _rows(live_server) -> dict[str, int]:
    """Rows per table of the server's SQLite edit log."""
    with sqlite3.connect(live_server.db_url.removeprefix("sqlite:///")) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
