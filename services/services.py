"""Services: one edit log (the truth) and one SeracEditor (its in-memory cache), kept in step.

Invariants:
- every write goes to the database first; the index changes only after the commit succeeded, so a
  failed write leaves both as they were;
- writes and index updates happen under one lock, so readers never see the index ahead of or behind
  the log for long, and `check_consistency` can prove they match;
- a write never waits for the model while it holds that lock: the embeddings it needs (its edits' prompts)
  are computed first, outside it, with the model slot's writes-first priority (services.model_slot), and
  only the commit and the index update happen under it; so a long probe set delays a write by at most one
  chunk of model work, and a write delays reads by its database time only;
- on start the index is rebuilt from the log's active edits and their stored embeddings (db.edit_vectors, tagged
  with the embedder's identity): a restart embeds only the edits with no row by the serving embedder (none, once
  stored; all of them after the embedder changed); where a snapshot of the index (services.index_cache) is valid,
  it is read instead and the log's changes after its watermark are replayed through `sync` (an incremental change
  is never a full rebuild); a full build or a large replay writes a new snapshot, as does `save_index_snapshot`
  (clean shutdown); every write stores its new edits' embeddings in its own transaction (services.stored_vectors);
  after that `sync` follows the audit log
  (the change feed) so edits written by other processes or app instances sharing the database reach
  this index before the next query; applying a change twice is harmless (it re-reads current state);
- if updating the index fails after a commit, the index is rebuilt from the log before the error
  propagates, so the two never stay apart;
- model calls share one slot (`model_slot`), so concurrent probes queue instead of thrashing the CPU; heavy
  reads (`route`, `ask`) take it per chunk of CHUNK queries, so writes waiting first get in between; the
  doors that start heavy reads admit them through `heavy` (services.limits: a bound and a rate per user); greedy
  whole /v1 answers that arrive together share one routing and one generation pass (`batcher`, services.batching);
- the request path's `sync` reads the log at most once per `config.sync_interval_ms` (500 ms by default): this
  instance's own writes reach its index at once, another instance's writes within that interval (plus the
  query's own time), and a quiet log costs no query per request; `sync(force=True)` always reads;
- a log replaced under a running server (`app.py restore FILE` refuses while one is connected, but a file copied
  over it is not stopped) no longer holds the audit row `sync` saw last: sync then rebuilds the index whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.config import SeracConfig
from core.errors import EditorError
from core.serac import SeracEditor
from core.types import Edit, EditDraft, RoutingDecision, RoutingRecord
from db.edit_vectors import Embeddings
from db.idempotency import IdempotencyKey
from db.repository import EditRepository
from services.batching import RequestBatcher
from services.edit_log import EditLog, Probes, parse_threshold
from services.index_cache import IndexCache
from services.limits import HeavyGate
from services.log_texts import LogTexts
from services.model_slot import ModelSlot
from services.stored_vectors import StoredVectors, Vectors

log = logging.getLogger(__name__)
CHUNK = 16  # queries per hold of the model slot in route/ask: a write waits for at most one chunk


@dataclass(frozen=True)
class Consistency:
    ok: bool
    active_in_log: int
    in_index: int
    missing: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()


class Services(EditLog):
    """The edit log and the index in step; every write of EditLog, then the index."""

    def __init__(self, config: SeracConfig, repository: EditRepository, editor: SeracEditor):
        super().__init__(config, repository)
        self.editor = editor
        self.write_lock = threading.RLock()
        self.model_slot = ModelSlot()
        self._seen_head: str | None = None  # 'ID:HASH' of the newest audit row the index reflects
        self._synced_at = float("-inf")  # time.monotonic() of the last read of the change feed
        self.batcher = RequestBatcher(editor, self.model_slot)
        self.heavy = HeavyGate.from_config(config)  # services.limits: heavy reads' bound and rates
        self.stored = StoredVectors(repository, editor.embedder.identity, editor.embedder.dim, self.vectors_for)
        self.index_cache = IndexCache(config, repository, editor.embedder.identity)
        self.index_origin: dict = {}  # how the last rebuild_index got the index: "source" snapshot or built, seconds
        editor.memory.use_texts(LogTexts(repository))  # the memory keeps ids and vectors; texts come from the log
        self._load_threshold()
        self.rebuild_index()

    def rebuild_index(self) -> int:
        """A fresh index over the log's active edits: the index snapshot brought up to date (services.index_cache),
        else built from their stored embeddings (those missing are embedded and stored first) and snapshotted;
        returns how many edits it holds."""
        with self.write_lock:
            memory, started = self.editor.memory, time.perf_counter()
            memory.clear()
            if self._from_snapshot():
                self.index_origin["seconds"] = time.perf_counter() - started
                return len(memory)
            self._seen_head = self.repository.audit_head()  # read first: later changes get replayed
            unkept = self.stored.load_into(memory)
            if unkept:  # computed, but the log refused to keep them (read-only, full): indexed from here
                edits = self.repository.get_many(list(unkept))
                memory.add(edits, np.stack([unkept[e.id] for e in edits]))
            built = time.perf_counter()
            self.index_origin = {"source": "built", "seconds": built - started}
            if self.index_cache.save(memory, self._seen_head):
                self.index_origin["snapshot_s"] = time.perf_counter() - built
            return len(memory)

    def _from_snapshot(self) -> bool:
        """The memory from a valid snapshot, then the log's changes after its watermark replayed by `sync`; False
        (the memory empty) when there is none or the result does not hold the log's active count."""
        head = self.index_cache.restore(self.editor.memory)
        if head is None:
            return False
        self._seen_head, self.index_origin = head, {}
        replayed = self.sync(force=True)
        if self.index_origin:  # the log was rewritten meanwhile: sync rebuilt the index whole (no snapshot fits)
            return True
        held, active = len(self.editor.memory), self.repository.count_edits("active")
        if held == active:
            self.index_origin = {"source": "snapshot", "replayed": replayed}
            if replayed * 10 > held:  # a large change since: the next start replays it from a new snapshot
                self.index_cache.save(self.editor.memory, self._seen_head)
            return True
        log.warning(
            "the snapshot brought up to date holds %d edits, the log %d active: building the index", held, active
        )
        self.editor.memory.clear()
        return False

    def save_index_snapshot(self) -> bool:
        """Snapshot the index (brought level with the log first) unless the snapshot on disk already is; for a clean
        shutdown. True when one was written."""
        with self.write_lock:
            self.sync(force=True)
            if self._seen_head == self.index_cache.head:
                return False
            return self.index_cache.save(self.editor.memory, self._seen_head)

    def sync(self, force: bool = False) -> int:
        """Apply changes other writers made to the log since we last looked; returns how many edits changed.
        Unless `force`, does nothing when the log was read less than `config.sync_interval_ms` ago. A log replaced
        behind the server's back (restored from a backup) no longer holds the row last seen: the index and the
        threshold are rebuilt from it whole (returns the active edits then)."""
        if not force and (time.monotonic() - self._synced_at) * 1e3 < self.config.sync_interval_ms:
            return 0
        read_at, seen = time.monotonic(), self._seen_head  # before reading: a write committed meanwhile is read next
        ahead = self.repository.changes_since(seen)
        if ahead is not None and ahead[0] == seen:  # nothing new: one read, no lock
            self._synced_at = read_at
            return 0
        vectors = self._ahead_of_sync(ahead)
        with self.write_lock:
            self._synced_at = read_at
            changes = self.repository.changes_since(self._seen_head)
            if changes is None:
                self._load_threshold()
                return self.rebuild_index()
            last, edit_ids, setting_changed = changes
            if setting_changed:
                self._load_threshold()
            current = self.repository.get_many(sorted(edit_ids)) if edit_ids else []
            memory = self.editor.memory
            gone = [e.id for e in current if e.status != "active" and memory.contains(e.id)]
            active = [e for e in current if e.status == "active"]
            held = memory.texts.fetch([e.id for e in active if memory.contains(e.id)])  # one read, not one per edit
            new = [e for e in active if held.get(e.id) != e]
            self.editor.remove_edits(gone)
            self._index(new, vectors)
            self._seen_head = last
            return len(gone) + len(new)

    def _ahead_of_sync(self, changes: tuple[str | None, set[int], bool] | None) -> Vectors:
        """The embeddings of the edits other writers added in `changes` (read before the write lock), computed
        before it (a change that lands after that read is embedded under it, as before)."""
        if changes is None:  # the log was replaced: sync rebuilds the index whole
            return {}
        edit_ids = changes[1]
        current = self.repository.get_many(sorted(edit_ids)) if edit_ids else []
        return self.stored.of([e for e in current if e.status == "active" and not self.editor.memory.contains(e.id)])

    def vectors_for(self, prompts: Sequence[str]) -> Vectors:
        """Embeddings of these prompts, with a write's priority on the model slot (no write lock needed)."""
        prompts = list(dict.fromkeys(p for p in prompts if isinstance(p, str)))
        if not prompts:
            return {}
        with self.model_slot.first():
            return dict(zip(prompts, self.model_slot.run(lambda: self.editor.embedder.encode(prompts))))

    def _draft_vectors(self, drafts: Sequence[EditDraft]) -> Vectors:
        """Embeddings of the drafts' prompts as they will be stored (invalid drafts skipped: the write refuses them)."""
        prompts = []
        for draft in drafts:
            try:
                prompts.append(self.repository.clean_draft(draft).prompt)
            except EditorError:
                continue
        return self.vectors_for(prompts)

    # ---- writes -------------------------------------------------------------------------
    def add_edits(
        self,
        drafts: Sequence[EditDraft],
        actor: str,
        action: str = "import",
        reason: str | None = None,
        probes: Sequence[Probes] | None = None,
    ) -> list[Edit]:
        vectors = self._draft_vectors(drafts)
        with self.write_lock:
            added = self.repository.add_edits(
                drafts, actor, action, reason, probes, embeddings=self.stored.embeddings(vectors)
            )
            self._index(added, vectors)
            return added

    def add_edits_by_actor(
        self,
        groups: Sequence[tuple[str, str | None, Sequence[EditDraft], Sequence[IdempotencyKey | None]]],
        action: str = "add",
    ) -> list[list[Edit | Exception]]:
        """Several actors' adds, grouped by (actor, reason), each draft with its idempotency key or None: one
        transaction per group (the reason goes into its audit rows), then one index pass for everything committed.
        Per group, per draft: its edit, or the exception that refused it
        (nothing of it written). When a group's transaction fails, its drafts are saved again one by one, so a
        draft the database refuses fails alone and the others are saved."""
        vectors = self._draft_vectors([d for _, _, drafts, _ in groups for d in drafts])
        embeddings = self.stored.embeddings(vectors)
        with self.write_lock:
            results: list[list[Edit | Exception]] = []
            try:
                for actor, reason, drafts, keys in groups:
                    try:
                        added = self.repository.add_edits(drafts, actor, action, reason, None, keys, embeddings)
                        results.append(list(added))
                    except Exception as exc:  # noqa: BLE001 - one outcome per draft, handed to its own caller
                        alone = len(drafts) == 1
                        one_by_one = self._one_by_one(actor, reason, drafts, keys, action, embeddings)
                        results.append([exc] if alone else one_by_one)
            finally:  # what committed reaches the index even if a later group failed unexpectedly
                self._index([e for r in results for e in r if isinstance(e, Edit)], vectors)
            return results

    def _one_by_one(
        self,
        actor: str,
        reason: str | None,
        drafts: Sequence[EditDraft],
        keys: Sequence[IdempotencyKey | None],
        action: str,
        embeddings: Embeddings,
    ) -> list[Edit | Exception]:
        out: list[Edit | Exception] = []
        for draft, key in zip(drafts, keys):
            try:
                out.append(self.repository.add_edits([draft], actor, action, reason, None, [key], embeddings)[0])
            except Exception as exc:  # noqa: BLE001 - this draft's own outcome
                out.append(exc)
        return out

    def retire(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        with self.write_lock:
            edit = super().retire(edit_id, actor, reason)
            self.editor.remove_edits([edit_id])
            return edit

    def restore(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        vectors = self._known_vectors([edit_id])
        with self.write_lock:
            edit = super().restore(edit_id, actor, reason)
            self._index([edit], vectors)
            return edit

    def change_target(self, edit_id: int, target: str, actor: str, reason: str | None = None) -> Edit:
        vectors = self._known_vectors([edit_id])
        with self.write_lock:
            edit = super().change_target(edit_id, target, actor, reason)
            if edit.status == "active":
                self._index([edit], vectors)
            return edit

    def writes_first(self):
        """Model work inside goes ahead of waiting reads (services.model_slot); for a write's checks."""
        return self.model_slot.first()

    def _known_vectors(self, edit_ids: Sequence[int]) -> Vectors:
        """Embeddings of existing edits' prompts (a prompt never changes): stored in the log, else computed now."""
        try:
            return self.stored.of(self.repository.get_many(list(edit_ids)))
        except EditorError:
            return {}  # the write itself reports the unknown id

    def resolve(
        self,
        draft: EditDraft,
        actor: str,
        retire: Sequence[int] = (),
        replace: Sequence[int] = (),
        reason: str | None = None,
        probes: Probes = (),
        key: IdempotencyKey | None = None,
    ) -> tuple[Edit | None, list[Edit]]:
        """EditRepository.resolve (one transaction), then the index: retired edits out, changed and new ones in."""
        vectors = self._draft_vectors([draft])
        with self.write_lock:
            added, changed = self.repository.resolve(
                draft, actor, retire, replace, reason, probes, key, self.stored.embeddings(vectors)
            )
            self.editor.remove_edits([e.id for e in changed if e.status != "active"])
            self._index([e for e in (*changed, *([added] if added else [])) if e.status == "active"], vectors)
            return added, changed

    def set_threshold(self, value: object, actor: str, reason: str | None = None) -> float:
        parse_threshold(value)  # bad input fails before the lock
        with self.write_lock:
            threshold = super().set_threshold(value, actor, reason)
            self.editor.threshold = threshold
        return threshold

    # ---- queries ------------------------------------------------------------------------
    def ask(self, queries: Sequence[str], actor: str, log: bool = True) -> list[RoutingRecord]:
        """Route and answer queries (validated); with `config.log_probes`, each record also goes to the
        probe log (off by default: then asking only reads the log), now unless `log` is False (the caller then
        runs `log_probes` later, after its response)."""
        clean = [self.clean_query(q) for q in queries]
        self.sync()
        records = []
        for start in range(0, len(clean), CHUNK):  # writes waiting for the model get in between chunks
            chunk = clean[start : start + CHUNK]
            records += self.model_slot.run(lambda chunk=chunk: self.editor.ask(chunk))
        if log:
            self.log_probes(records, actor)
        return records

    def log_probes(self, records: Sequence[RoutingRecord], actor: str) -> None:
        """Keep routing records in the probe log when the server was started with --log-probes (else nothing)."""
        if self.config.log_probes:
            self.repository.log_probes(records, actor)

    def route(self, queries: Sequence[str], threshold: float | None = None) -> list[RoutingDecision]:
        """Routing decisions only (no generation, not logged), e.g. for conflict checks and threshold sweeps."""
        clean = [self.clean_query(q) for q in queries]
        self.sync()
        decisions = []
        for start in range(0, len(clean), CHUNK):  # writes waiting for the model get in between chunks
            chunk = clean[start : start + CHUNK]
            decisions += self.model_slot.run(lambda chunk=chunk: self.editor.route(chunk, threshold)[0])
        return decisions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The scope embedder's vectors for texts (the space the edit index lives in)."""
        return self.model_slot.run(lambda: self.editor.embedder.encode(list(texts)))

    def active_vectors(self, limit: int) -> tuple[list[Edit], np.ndarray]:
        """The newest `limit` active edits and their index vectors (after a sync), for maps and crowding."""
        with self.write_lock:
            self.sync(force=True)
            ids = self.editor.memory.ids()[-limit:]
            edits = self.repository.get_many(ids)  # active: the sync above brought the index level with the log
            return edits, self.editor.memory.vectors([e.id for e in edits])

    def score_pairs(self, queries: Sequence[str], candidates) -> list[list[float]]:
        """The scope classifier's scores of each query against its candidates."""
        return self.model_slot.run(lambda: self.editor.router.classifier.score(list(queries), candidates))

    def check_consistency(self) -> Consistency:
        with self.write_lock:
            self.sync(force=True)
            log_ids = {e.id for e in self.repository.active_edits()}
            index_ids = set(self.editor.memory.ids())
        return Consistency(
            log_ids == index_ids,
            len(log_ids),
            len(index_ids),
            tuple(sorted(log_ids - index_ids)),
            tuple(sorted(index_ids - log_ids)),
        )

    def _index(self, edits: Sequence[Edit], vectors: Vectors | None = None) -> None:
        """Put committed active edits into the index, with the embeddings computed before the lock (`vectors`) or
        stored in the log; any other is embedded here (rare: a change that arrived meanwhile).
        On failure, rebuild the index from the log, then re-raise."""
        active = [e for e in edits if e.status == "active"]
        if not active:
            return
        try:
            known = dict(vectors or {})
            known |= self.stored.of([e for e in active if e.prompt not in known])
            self.editor.memory.add(active, np.stack([known[e.prompt] for e in active]))
        except BaseException:
            self.rebuild_index()
            raise

    def _load_threshold(self) -> None:
        self.editor.threshold = self.serving_threshold()
