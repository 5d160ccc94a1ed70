"""The request and response shapes of the OpenAI-compatible routes under /v1 (pydantic, so /openapi.json and /docs
say what each route accepts and returns), and their translation into core.generation's settings and prompts.

Invariants:
- fields standard clients send are accepted; a field that would change the answer in a way this server cannot
  honour (n > 1, logprobs, echo, best_of > 1, suffix, penalties) is refused with a 400 naming it, never ignored;
- unknown extra fields are ignored (clients add their own), and never reach a model; the fields declared are
  strict JSON types (0 is not false, "5" is not 5; 5.0 is the integer 5), and the schema states each refusal above
  (a single allowed value, the text rule of webapp.contract), so a request valid by /openapi.json is answered;
- responses add one extension field, `serac` (route, edit_id, score, threshold); standard fields keep their
  OpenAI meaning, so standard clients read them unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.generation import (
    MAX_STOP_CHARS,
    MAX_STOPS,
    MAX_TOKENS,
    ChatMessage,
    GenerationSettings,
    InvalidParameter,
    Prompt,
)
from core.text import REQUIRED_TEXT_PATTERN, TEXT_PATTERN
from webapp.contract import text_problem, text_schema

MODEL_ID = "serac"  # the one model served: the edited system (router, base and counterfactual models)
COMPLETION_MAX_TOKENS, CHAT_MAX_TOKENS = 16, 256  # defaults when a request names no max_tokens


# What the schema says of the fields this server takes only one value of, and of its text (webapp.contract).
def _only(value: int) -> dict:
    return {"minimum": value, "maximum": value}


_NOT_TRUE = {"not": {"const": True}}
_STOP = {"type": "string", "minLength": 1, "maxLength": MAX_STOP_CHARS}
_PROMPT = text_schema(REQUIRED_TEXT_PATTERN)
_USER_MESSAGE = {  # a user message's text is what gets routed: it must hold visible text (ChatMessageIn.check)
    "if": {"properties": {"role": {"const": "user"}}, "required": ["role"]},
    "then": {
        "properties": {
            "content": {
                "pattern": REQUIRED_TEXT_PATTERN,
                "type": ["string", "array"],
                "minItems": 1,
                "items": {"properties": {"text": {"pattern": REQUIRED_TEXT_PATTERN}}},
            }
        }
    },
}


MAX_SEED = 2**53  # the largest integer every JSON client reads exactly
_INTEGERS = ("max_tokens", "max_completion_tokens", "seed", "n", "best_of", "logprobs")  # integer fields, by name


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as declared: 0 is not false, "5" is not 5
    include_usage: bool = Field(False, description="send a last chunk with the usage counts (and no choices)")


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(
        description=f"the served model: '{MODEL_ID}' (GET /v1/models); another name is a 404",
        json_schema_extra={"enum": [MODEL_ID]},
    )
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="most new tokens to generate")
    temperature: float | None = Field(
        None, ge=0, le=2, description="0 or absent: greedy (the same answer /api/ask gives); above 0: sampling"
    )
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling (with temperature > 0)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="makes sampling repeatable")
    stop: str | list[str] | None = Field(
        None,
        description="up to 4 strings; the answer ends before the first one",
        json_schema_extra={"minLength": 1, "maxLength": MAX_STOP_CHARS, "maxItems": MAX_STOPS, "items": _STOP},
    )
    n: int | None = Field(1, description="choices per request: only 1", json_schema_extra=_only(1))
    stream: bool | None = Field(False, description="server-sent events: `data: {chunk}` lines, then `data: [DONE]`")
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = Field(None, description="not supported: only 0", json_schema_extra=_only(0))
    frequency_penalty: float | None = Field(None, description="not supported: only 0", json_schema_extra=_only(0))
    user: str | None = Field(None, description="ignored (the token names the user)")

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: object) -> object:
        """A JSON integer may be written 5.0; strict validation then refuses only "5", true and 5.5."""
        if not isinstance(data, dict):
            return data
        whole = {k: int(v) for k, v in data.items() if k in _INTEGERS and isinstance(v, float) and v.is_integer()}
        return data | whole

    def settings(self, default_max_tokens: int) -> GenerationSettings:
        """The generation settings, or InvalidParameter naming the field this server cannot honour."""
        _refuse_unless(self.n in (None, 1), "n", f"n must be 1: this server returns one choice (got {self.n})")
        for name in ("presence_penalty", "frequency_penalty"):
            _refuse_unless(not getattr(self, name), name, f"{name} is not supported; send 0 or leave it out")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return GenerationSettings(
            max_tokens=self.max_tokens or default_max_tokens,
            temperature=self.temperature or 0.0,
            top_p=1.0 if self.top_p is None else self.top_p,
            seed=self.seed,
            stop=stop,
        )


class CompletionRequest(_Request):
    prompt: str | list[str] = Field(
        description="the text to continue (one prompt; a list must hold exactly one)",
        json_schema_extra=_PROMPT | {"minItems": 1, "maxItems": 1, "items": {"type": "string", **_PROMPT}},
    )
    echo: bool | None = Field(False, description="not supported: only false", json_schema_extra=_NOT_TRUE)
    logprobs: int | None = Field(None, description="not supported: only null", json_schema_extra={"type": "null"})
    best_of: int | None = Field(None, description="not supported: only 1", json_schema_extra=_only(1))
    suffix: str | None = Field(None, description="not supported: only null", json_schema_extra={"type": "null"})

    def prompt_text(self) -> str:
        _refuse_unless(not self.echo, "echo", "echo is not supported")
        _refuse_unless(self.logprobs is None, "logprobs", "logprobs are not supported")
        _refuse_unless(self.best_of in (None, 1), "best_of", "best_of must be 1")
        _refuse_unless(self.suffix is None, "suffix", "suffix is not supported")
        if not isinstance(self.prompt, str):
            _refuse_unless(len(self.prompt) == 1, "prompt", f"one prompt per request (got {len(self.prompt)})")
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        _check_text("prompt", prompt, REQUIRED_TEXT_PATTERN)
        return prompt


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True)
    type: Literal["text"] = Field(description="only text parts are supported")
    text: str = Field(json_schema_extra=text_schema(TEXT_PATTERN))


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_USER_MESSAGE)

    role: Literal["system", "developer", "user", "assistant"] = Field(description="'developer' counts as 'system'")
    content: str | list[TextPart] | None = Field(
        description="text, or a list of text parts (joined by newlines); a user message's must hold visible text",
        json_schema_extra=text_schema(TEXT_PATTERN),
    )
    name: str | None = None

    def check(self, at: int) -> None:
        """The rule the schema states: text without control characters; a user's has visible text in each part."""
        pattern = REQUIRED_TEXT_PATTERN if self.role == "user" else TEXT_PATTERN
        texts = [self.content] if isinstance(self.content, str) else [p.text for p in self.content or ()]
        _refuse_unless(self.role != "user" or bool(texts), "messages", f"messages.{at}: a user message needs text")
        for text in texts:
            _check_text(f"messages.{at}.content", text, pattern, "messages")

    def message(self) -> ChatMessage:
        content = self.content if isinstance(self.content, str) else "\n".join(p.text for p in self.content or ())
        return ChatMessage("system" if self.role == "developer" else self.role, content)


class ChatRequest(_Request):
    messages: list[ChatMessageIn] = Field(
        min_length=1,
        max_length=256,
        description="the chat (at least one user message); the router scores the last user message",
        json_schema_extra={"contains": {"properties": {"role": {"const": "user"}}, "required": ["role"]}},
    )
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="the newer name of max_tokens")
    logprobs: bool | None = Field(None, description="not supported: only false", json_schema_extra=_NOT_TRUE)

    def chat(self) -> Prompt:
        _refuse_unless(not self.logprobs, "logprobs", "logprobs are not supported")
        for at, message in enumerate(self.messages):
            message.check(at)
        return tuple(m.message() for m in self.messages)

    def settings(self, default_max_tokens: int) -> GenerationSettings:
        if self.max_tokens is None and self.max_completion_tokens is not None:
            return self.model_copy(update={"max_tokens": self.max_completion_tokens}).settings(default_max_tokens)
        return super().settings(default_max_tokens)


# ---- responses --------------------------------------------------------------------------------------------------
class Usage(BaseModel):
    prompt_tokens: int = Field(description="tokens the answering model read (its whole prompt)")
    completion_tokens: int
    total_tokens: int


class SeracInfo(BaseModel):
    """The routing decision (an extension field: standard clients ignore it)."""

    route: Literal["base", "counterfactual"]
    edit_id: int | None = Field(description="the edit that governs the prompt (route 'counterfactual'), else null")
    score: float | None = Field(description="the best candidate edit's scope score (null: no edit in memory)")
    threshold: float
    route_ms: float = Field(description="the routing's own time (embedding, retrieval, scoring) in milliseconds")
    batch: int = Field(1, description="rows decoding together when this request started decoding (1: alone)")


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    serac: SeracInfo


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    serac: SeracInfo


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def _check_text(name: str, text: str, pattern: str, param: str | None = None) -> None:
    problem = text_problem(text, pattern)
    _refuse_unless(problem is None, param or name, f"{name} {problem}")


def _refuse_unless(ok: bool, param: str, message: str) -> None:
    if not ok:
        raise InvalidParameter(message, param)
