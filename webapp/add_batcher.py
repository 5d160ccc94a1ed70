"""Group commit for concurrent single-edit adds (POST /api/edits): requests that arrive while one batch is being
checked and saved wait, then go together, so the scope model scores their prompts in one pass instead of one
pass each. The model is the bottleneck of an add (about 80 ms of model time, a few ms of database), and batched
forward passes cost a fraction per prompt.

Invariants:
- each request gets what a lone add would give it, and only that: its own validation error, its own 409 when
  it conflicts with an active edit and chose no resolution (services.conflicts: one rule for every door), its
  own database error (the conflict-free requests of one actor commit together; if that transaction fails they
  are saved again one by one, so only the request the database refuses fails), or its saved edit with its
  conflicts; no request is told of an error while its edit was saved; a request that settles a conflict
  (replace, retire, keep) is saved alone, in its own transaction;
- a request with an idempotency key stores it with its edit (db.idempotency); a batch holds at most one
  request per (actor, key), so a retry waits for the first and then meets its stored key;
  edits saved in the same batch do not see each other as in-scope neighbours (as if they had been sent at once);
- the conflict check and the save of one batch happen under one lock, so no add slips in between (a batch
  holds at most one request per normalised prompt; a second one waits for the next batch and then sees the first);
- each actor's adds in a batch commit in one transaction through Services (log first, then index), and the
  index embeds the whole batch in one pass.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from core.text import normalize_answer
from core.types import Edit, EditDraft
from db.idempotency import IdempotencyKey
from services.conflicts import Conflicts, find_conflicts, settle
from services.services import Services

Saved = tuple[Edit | None, list[Edit], Conflicts]  # (the new edit or None when replaced, changed edits, conflicts)

MAX_BATCH = 32


@dataclass
class AddRequest:
    draft: EditDraft
    actor: str
    resolution: str = "refuse"
    reason: str | None = None
    key: IdempotencyKey | None = None  # its detail is filled with the conflicts found when it is saved
    done: threading.Event = field(default_factory=threading.Event)
    result: Saved | None = None
    error: BaseException | None = None

    def finish(self, result: Saved | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class AddBatcher:
    def __init__(self, services: Services, max_batch: int = MAX_BATCH):
        self.services, self.max_batch = services, max_batch
        self._pending: list[AddRequest] = []
        self._queue_lock = threading.Lock()  # guards _pending
        self._batch_lock = threading.Lock()  # one batch checked and saved at a time
        self.batches = 0

    def add(
        self,
        draft: EditDraft,
        actor: str,
        resolution: str = "refuse",
        reason: str | None = None,
        key: IdempotencyKey | None = None,
    ) -> Saved:
        """Check and save one edit (with whichever others are waiting); raises what a lone add would raise."""
        request = AddRequest(draft, actor, resolution, reason, key)
        with self._queue_lock:
            self._pending.append(request)
        while not request.done.is_set():
            with self._batch_lock:
                if not request.done.is_set():
                    self._run(self._take())
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _take(self) -> list[AddRequest]:
        """The oldest waiting requests, at most one per normalised prompt and max_batch in all."""
        with self._queue_lock:
            batch, rest, prompts = [], [], set()
            for request in self._pending:
                key = normalize_answer(request.draft.prompt) if isinstance(request.draft.prompt, str) else None
                retry = (request.actor, request.key.key) if request.key else None
                if len(batch) < self.max_batch and (key is None or key not in prompts) and retry not in prompts:
                    batch.append(request)
                    prompts |= {key, retry} - {None}
                else:
                    rest.append(request)
            self._pending = rest
        return batch

    def _run(self, batch: list[AddRequest]) -> None:
        try:
            self._save(_by_actor(self._check(batch)))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request, then re-raised by each
            for request in batch:
                if not request.done.is_set():
                    request.finish(error=exc)
        self.batches += 1

    def _check(self, batch: list[AddRequest]) -> list[tuple[AddRequest, EditDraft, Conflicts]]:
        """Validate each draft alone, then score the valid ones together; a draft with conflicts is settled
        (or refused) alone here; the conflict-free ones are returned to be saved together."""
        valid = []
        for request in batch:
            try:
                valid.append((request, self.services.repository.clean_draft(request.draft)))
            except Exception as exc:  # noqa: BLE001 - its own outcome
                request.finish(error=exc)
        conflicts = find_conflicts(self.services, [draft for _, draft in valid])
        out = []
        for (request, draft), found in zip(valid, conflicts):
            if not found.any:
                out.append((request, draft, found))
                continue
            try:
                key = _with_detail(request.key, found)
                added, changed = settle(
                    self.services, draft, found, request.actor, request.resolution, request.reason, key=key
                )
                request.finish(result=(added, changed, found))
            except Exception as exc:  # noqa: BLE001 - its own outcome (a refusal, or the database's error)
                request.finish(error=exc)
        return out

    def _save(self, groups: dict[tuple[str, str | None], list[tuple[AddRequest, EditDraft, Conflicts]]]) -> None:
        """Each actor's drafts in one transaction; one index pass (one embedding batch) for all of them; each
        request gets its own outcome."""
        results = self.services.add_edits_by_actor(
            [
                (actor, reason, [d for _, d, _ in group], [_with_detail(r.key, found) for r, _, found in group])
                for (actor, reason), group in groups.items()
            ]
        )
        for group, outcomes in zip(groups.values(), results):
            for (request, _, found), outcome in zip(group, outcomes):
                if isinstance(outcome, Exception):
                    request.finish(error=outcome)
                else:
                    request.finish(result=(outcome, [], found))


def _with_detail(key: IdempotencyKey | None, found: Conflicts) -> IdempotencyKey | None:
    """The key with the conflicts this request reports, so that a replay reports them again."""
    return None if key is None else dataclasses.replace(key, detail=found.to_dict())


def _by_actor(checked: list[tuple[AddRequest, EditDraft, Conflicts]]) -> dict[tuple[str, str | None], list]:
    """The conflict-free requests grouped by (actor, reason): one transaction each, the reason in its audit rows."""
    groups: dict[tuple[str, str | None], list] = defaultdict(list)
    for item in checked:
        groups[(item[0].actor, item[0].reason)].append(item)
    return groups
