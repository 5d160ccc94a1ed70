"""Open-ended generation for serving: settings, chat messages, and one prompt's continuation as text deltas.

`answer` (core.base_model, core.counterfactual) gives the short greedy answers the UI, `ask` and `eval` compare;
this module gives what an application asks for through the OpenAI-compatible routes: `max_tokens`,
`temperature` (0 = greedy, else sampling, reproducible with `seed`), `top_p` and `stop` strings, streamed.

Invariants:
- `GenerationSettings` and `ChatMessage` that exist are valid (InvalidInput otherwise, naming the field);
- a `Generation` tokenizes and checks its prompt when it is built (too long for the model: InvalidInput), so a
  request fails before any text is sent; iterating it yields text deltas whose concatenation is the answer;
- the answer never contains a stop string: it is cut before the first one (finish_reason "stop"); text that may
  be the start of a stop string is held back until it is known not to be one;
- finish_reason is "stop" (a stop string, end of text, or the end of a one-line answer) or "length" (max_tokens);
- greedy generation with stop "\\n" gives the same first line as `answer` (the same forward passes);
- `generate_together` gives generations of one model family (a base and its unmerged adapter), decoded in one
  batch, the answers, deltas and finish reasons they get alone (greedy: exactly; sampled: each row its own seeded
  picker over its own logits);
- iterating and `generate_together` share one rule for what a token does to the answer (`feed`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from core.batch_decode import decode_rows
from core.errors import InvalidInput

ROLES = ("system", "user", "assistant")
MAX_TOKENS = 2048  # the most new tokens one request may ask for
MAX_STOPS, MAX_STOP_CHARS = 4, 64


@dataclass(frozen=True)
class GenerationSettings:
    max_tokens: int = 16
    temperature: float = 0.0  # 0: greedy; above: sample from softmax(logits / temperature)
    top_p: float = 1.0  # sample only from the smallest set of tokens whose probabilities reach top_p
    seed: int | None = None  # the same seed, prompt and settings sample the same text
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        whole = isinstance(self.max_tokens, int) and 1 <= self.max_tokens <= MAX_TOKENS
        _check(whole, "max_tokens", f"an integer in 1..{MAX_TOKENS}", self.max_tokens)
        _check(0.0 <= self.temperature <= 2.0, "temperature", "a number in [0, 2]", self.temperature)
        _check(0.0 < self.top_p <= 1.0, "top_p", "a number in (0, 1]", self.top_p)
        _check(self.seed is None or 0 <= self.seed < 2**63, "seed", "an integer in [0, 2^63)", self.seed)
        _check(len(self.stop) <= MAX_STOPS, "stop", f"at most {MAX_STOPS} strings", len(self.stop))
        for s in self.stop:
            fits = isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS
            _check(fits, "stop", f"non-empty strings of at most {MAX_STOP_CHARS} characters", s)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str

    def __post_init__(self) -> None:
        _check(self.role in ROLES, "role", f"one of {', '.join(ROLES)}", self.role)
        _check(isinstance(self.content, str), "content", "text", type(self.content).__name__)


#: what an application asks: a completion's prompt, or a chat's messages
Prompt = str | tuple[ChatMessage, ...]


def routed_text(prompt: Prompt) -> str:
    """What the router scores: a completion's prompt, or the last user message of a chat."""
    if isinstance(prompt, str):
        return prompt
    users = [m.content for m in prompt if m.role == "user"]
    if not users:
        raise InvalidParameter("messages: a chat needs at least one message with role 'user'", "messages")
    return users[-1]


class TextGeneration(Protocol):
    """A continuation being generated: iterate once for text deltas; then read how it ended."""

    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cancel: threading.Event  # set: stop generating at the next token

    def __iter__(self) -> Iterator[str]: ...


class Generation:
    """One prompt's continuation by a local causal LM (core.lm.CausalLM), as text deltas."""

    def __init__(self, lm, prompt: str, settings: GenerationSettings, one_line: bool = False):
        self.lm, self.settings = lm, settings
        self.prompt_ids: list[int] = lm.tokenizer(prompt).input_ids
        self.one_line = one_line  # a one-line answer (the counterfactual model's): leading space dropped, ends at \n
        self.stops = settings.stop + (("\n",) if one_line else ())
        self.prompt_tokens, self.completion_tokens = len(self.prompt_ids), 0
        self.finish_reason: str | None = None
        self.cancel = threading.Event()  # set it to stop generating (a client went away)
        limit = lm.context_length
        if self.prompt_tokens + settings.max_tokens > limit:
            raise ContextTooLong(
                f"the prompt is {self.prompt_tokens} tokens and max_tokens {settings.max_tokens}; "
                f"together they must fit the model's context of {limit} tokens",
                "max_tokens",
            )

    def __iter__(self) -> Iterator[str]:
        self.begin()
        pick = token_picker(self.settings, self.lm.device)
        for token in self.lm.stream_tokens(self.prompt_ids, self.settings.max_tokens, pick):
            delta, ended = self.feed(token)
            if delta:
                yield delta
            if ended:
                return

    @property
    def batchable(self) -> bool:
        """A local model's generation: `generate_together` decodes it with others of the same model."""
        return True

    def begin(self) -> None:
        """Start the answer: no tokens yet."""
        self._ids: list[int] = []
        self._sent, self._text, self.finish_reason, self.completion_tokens = 0, "", "length", 0

    def feed(self, token: int) -> tuple[str, bool]:
        """Take the next token: (the text now safe to send, whether the answer has ended). The last delta holds all
        that was held back, cut before a stop string; a set `cancel` ends the answer before this token."""
        if self.cancel.is_set():
            return self._flush(self._text)
        self._ids.append(token)
        self.completion_tokens = len(self._ids)
        if token in self.lm.end_ids:
            self.finish_reason = "stop"
            return self._flush(self._decode(self._ids))
        text = self._decode(self._ids)
        cut = first_stop(text, self.stops)
        if cut is not None:
            self.finish_reason = "stop"
            return self._flush(text[:cut])
        if self.completion_tokens >= self.settings.max_tokens:
            return self._flush(text)
        self._text, safe = text, len(text) - held_back(text, self.stops)
        delta = text[self._sent : safe] if safe > self._sent else ""
        self._sent = max(self._sent, safe)
        return delta, False

    def _flush(self, text: str) -> tuple[str, bool]:
        delta = text[self._sent :]
        self._sent = max(self._sent, len(text))
        return delta, True

    def _decode(self, ids: list[int]) -> str:
        text = self.lm.tokenizer.decode(ids, skip_special_tokens=True)
        text = text.lstrip() if self.one_line else text
        return text[:-1] if text.endswith("\ufffd") else text  # a character still missing its last bytes


def generate_together(
    generations: Sequence[Generation],
    emit: Callable[[int, str], None] | None = None,
    join: Callable[[int], Sequence[Generation]] | None = None,
    ended: Callable[[int], None] | None = None,
) -> list[str]:
    """The answers of generations on LMs of one family (one LM, or a base and its unmerged adapter: CausalLM.family)
    from one batched decode loop; each equals its own iteration's (greedy exactly; sampled with its own seeded
    picker, equal while the batch's logits equal its own to float precision). `emit(i, delta)` gets generation i's
    text deltas as they come (a stream's); `ended(i)` is told once generation i has ended; `join(live rows)`, asked
    between tokens, gives more generations of the family to decode from now on (numbered after the others)."""
    family = generations[0].lm.family
    texts: list[str] = []

    def row(g: Generation):
        if g.lm.family is not family:
            raise ValueError("generate_together takes generations of one model family")
        i = len(texts)
        texts.append("")
        g.begin()

        def take(token: int) -> bool:
            delta, done = g.feed(token)
            if delta:
                texts[i] += delta
                if emit is not None:
                    emit(i, delta)
            if done and ended is not None:
                ended(i)
            return done

        return g.lm, g.prompt_ids, token_picker(g.settings, family.device), take

    rows = [row(g) for g in generations]
    decode_rows(rows, None if join is None else lambda live: [row(g) for g in join(live)])
    return texts


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first stop string starts in text, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of text could be the start of a stop string (not sent yet)."""
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


def token_picker(settings: GenerationSettings, device: str) -> Callable[[torch.Tensor], int]:
    """The rule that picks each next token from its logits (vocab,): argmax, or a seeded sample."""
    if settings.temperature == 0.0:
        return lambda logits: int(logits.argmax())
    generator = torch.Generator(device=device)
    generator.manual_seed(settings.seed if settings.seed is not None else secrets.randbits(63))

    def pick(logits: torch.Tensor) -> int:
        # shifted so the largest is 0, in double: a temperature near 0 (1e-300) gives argmax, never inf / inf = nan
        shifted = logits.double() - logits.double().max()
        probs = torch.softmax(shifted / settings.temperature, dim=-1)
        if settings.top_p < 1.0:
            ordered, order = probs.sort(descending=True)
            outside = ordered.cumsum(0) - ordered >= settings.top_p  # the tokens after the nucleus is full
            probs = torch.zeros_like(probs).scatter(0, order, ordered.masked_fill(outside, 0.0))
        return int(torch.multinomial(probs, 1, generator=generator))

    return pick


class InvalidParameter(InvalidInput):
    """A request parameter out of range; `param` names it (the OpenAI error shape reports it)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class ContextTooLong(InvalidParameter):
    """The prompt and max_tokens together do not fit the model's context (OpenAI's code: context_length_exceeded)."""

    code = "context_length_exceeded"


def _check(ok: bool, name: str, what: str, got: object) -> None:
    if not ok:
        raise InvalidParameter(f"{name} must be {what}, got {got!r}", name)
