"""A base model behind HTTP: any OpenAI-compatible server (vLLM, llama.cpp's server, TGI, another instance of this
app) answers the queries no edit governs, as `--base-model openai:URL` asks. Same Protocol as the local base
(core.base_model.BaseModel): `answer` for the UI, `ask` and `eval`; `generation` for the OpenAI-compatible routes.

Invariants:
- what reaches the server is the query untouched: a completion as a completion (`POST URL/completions`), a chat
  as a chat (`POST URL/chat/completions`, system message and history included); a bare question or instruction
  asked through `answer` goes as a one-message chat (the local base's rule, core.forms.is_chat_form);
- every answer is read as a stream, so a streamed request is passed through delta by delta;
- only idempotent failures are retried (connect errors and 502/503/504 before any text came), at most `retries`
  times with doubling backoff; then `BaseUnavailable` (HTTP 503) names the server and the reason; any other
  refusal by the server is `BaseRefused` (HTTP 502) with the server's own message;
- the API key comes from the config (app.py reads it from the environment) and is sent only as a bearer token;
- nothing here writes anywhere: a base that is down never costs an edit, an audit row or a setting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from core.config import REMOTE_PREFIX, SeracConfig
from core.errors import EditorError
from core.forms import is_chat_form
from core.generation import ChatMessage, GenerationSettings, Prompt
from core.text import first_line

RETRY_STATUS = (502, 503, 504)
STATUS_TTL_S = 5.0  # how long a reachability check is reused
PARALLEL = 8  # concurrent requests of one `answer` call


class BaseUnavailable(EditorError):
    """The remote base model cannot be reached (down, timing out, or overloaded after the retries)."""

    http_status = 503


class BaseRefused(EditorError):
    """The remote base model answered with an error of its own (a bad key, an unknown model, a server error)."""

    http_status = 502


class RemoteBase:
    """An OpenAI-compatible server as the base model f(x)."""

    uses_model_slot = False  # its work is on another machine: the local model slot is not held for it

    def __init__(self, config: SeracConfig):
        self.url, self.max_new_tokens, self.retries = config.remote_base_url, config.max_new_tokens, config.base_retries
        headers = {"Authorization": f"Bearer {config.base_api_key}"} if config.base_api_key else {}
        timeout = httpx.Timeout(config.base_timeout_s, connect=min(config.base_timeout_s, 5.0))
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._model, self._status, self._lock = config.base_model_name, (float("-inf"), ""), threading.Lock()

    @property
    def label(self) -> str:
        return REMOTE_PREFIX + self.url

    def model(self) -> str:
        """The model name sent with each request: configured, else the first one `GET URL/models` lists."""
        with self._lock:
            if self._model is None:
                listed = self.send("GET", "/models").json().get("data") or []
                if not listed or not isinstance(listed[0], dict) or not listed[0].get("id"):
                    raise BaseRefused(f"the base model server {self.url} lists no model at /models")
                self._model = str(listed[0]["id"])
            return self._model

    def status(self) -> str:
        """'reachable' or 'unreachable: reason', checked with GET /models at most every STATUS_TTL_S seconds."""
        checked, text = self._status
        if time.monotonic() - checked < STATUS_TTL_S:
            return text
        try:
            self.http.get("/models", timeout=3.0).raise_for_status()
            text = "reachable"
        except httpx.HTTPStatusError as exc:
            text = f"unreachable: HTTP {exc.response.status_code} from /models"
        except httpx.HTTPError as exc:
            text = f"unreachable: {_reason(exc)}"
        self._status = (time.monotonic(), text)
        return text

    def answer(self, queries: Sequence[str]) -> list[str]:
        """Greedy one-line answers, like the local base's (max_new_tokens, cut at the first line break)."""
        settings = GenerationSettings(max_tokens=self.max_new_tokens, stop=("\n",))

        def one(query: str) -> str:
            prompt = (ChatMessage("user", query),) if is_chat_form(query) else query
            return first_line("".join(self.generation(prompt, settings)))

        if len(queries) <= 1:
            return [one(q) for q in queries]
        with ThreadPoolExecutor(min(PARALLEL, len(queries))) as pool:
            return list(pool.map(one, queries))

    def generation(self, prompt: Prompt, settings: GenerationSettings) -> RemoteGeneration:
        return RemoteGeneration(self, prompt, settings)

    def send(self, method: str, path: str, body: dict | None = None, stream: bool = False) -> httpx.Response:
        """One request with bounded retries of idempotent failures; a 2xx response (open when `stream`)."""
        for attempt in range(self.retries + 1):
            try:
                request = self.http.build_request(method, path, json=body)
                response = self.http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = _reason(exc)
            except httpx.HTTPError as exc:  # a read timeout or a dropped connection: the request may have run
                raise BaseUnavailable(f"the base model server {self.url} failed: {_reason(exc)}") from exc
            else:
                if response.status_code < 400:
                    return response
                detail = _error_text(response)
                if response.status_code not in RETRY_STATUS:
                    refused = f"HTTP {response.status_code}: {detail}"
                    raise BaseRefused(f"the base model server {self.url} refused: {refused}")
                failure = f"HTTP {response.status_code}: {detail}"
            if attempt < self.retries:
                time.sleep(0.25 * 2**attempt)
        raise BaseUnavailable(
            f"the base model server {self.url} is unavailable ({failure}) after {self.retries + 1} tries; "
            "edits and settings are still saved"
        )


class RemoteGeneration:
    """One answer from the remote base, read as a stream of text deltas (core.generation.TextGeneration)."""

    uses_model_slot = False

    def __init__(self, base: RemoteBase, prompt: Prompt, settings: GenerationSettings):
        self.base, self.chat = base, not isinstance(prompt, str)
        self.finish_reason: str | None = None
        self.prompt_tokens = self.completion_tokens = 0
        self.cancel = threading.Event()
        self.body: dict = {
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        self.body.update({"stop": list(settings.stop)} if settings.stop else {})
        self.body.update({"seed": settings.seed} if settings.seed is not None else {})
        if self.chat:
            self.body["messages"] = [{"role": m.role, "content": m.content} for m in prompt]
        else:
            self.body["prompt"] = prompt
        self._response: httpx.Response | None = None

    def open(self) -> None:
        """Send the request now (retries included), so a base that is down fails before any text is promised."""
        if self._response is None:
            self.body["model"] = self.base.model()
            path = "/chat/completions" if self.chat else "/completions"
            self._response = self.base.send("POST", path, self.body, stream=True)

    def __iter__(self) -> Iterator[str]:
        self.open()
        deltas = 0
        try:
            for chunk in _events(self._response):
                if self.cancel.is_set():
                    break
                if chunk.get("usage"):
                    self.prompt_tokens = int(chunk["usage"].get("prompt_tokens") or 0)
                    self.completion_tokens = int(chunk["usage"].get("completion_tokens") or 0)
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") if self.chat else choice.get("text")
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    if text:
                        deltas += 1
                        yield text
        except httpx.HTTPError as exc:
            raise BaseUnavailable(f"the base model server {self.base.url} stopped mid-answer: {_reason(exc)}") from exc
        finally:
            self._response.close()
        self.completion_tokens = self.completion_tokens or deltas  # a server that reports no usage


def _events(response: httpx.Response) -> Iterator[dict]:
    """The JSON objects of a server-sent event stream, up to `data: [DONE]`; an error event raises BaseRefused."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise BaseRefused(f"the base model server sent an unreadable event: {data[:80]!r}") from exc
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            raise BaseRefused(f"the base model server failed mid-answer: {_message(error)}")
        if isinstance(chunk, dict):
            yield chunk


def _error_text(response: httpx.Response) -> str:
    """The server's error message (OpenAI shape, {"detail"}, or the first line of its text)."""
    response.read()
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip().splitlines() or ["(no body)"])[0][:200]
    finally:
        response.close()
    return _message(body.get("error") or body.get("detail") or body) if isinstance(body, dict) else str(body)[:200]


def _message(error: object) -> str:
    return str(error.get("message", error) if isinstance(error, dict) else error)[:200]


def _reason(exc: httpx.HTTPError) -> str:
    """A short reason: the exception kind and its first line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
