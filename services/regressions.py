"""Probe sets as regression tests: the one routing rule for a probe's pass/fail, re-run around every write.

A probe belongs to an edit and says what the curator expects (db/probe_prompts.py: expect 'in' or 'out'):
- the edit's own prompt and its paraphrases (expect 'in') pass when they route to that very edit;
- its unrelated prompts (expect 'out', near misses) pass when they route to the base model.
This is the routing-level verdict: it needs no generation, so a whole neighbourhood (or the whole log) is
checked in one routing pass. The Probe tab's full run also judges the answers (eval's rules, in
webapp/callbacks/probe.py) on top of the routing.

`guarded(services, prompts, write)` runs a write (add, change, retire, restore) between two checks of the
probe sets of the edits in its neighbourhood (the top-k edits by embedding of the prompts it touches) and
says which probes now fail, and why ("edit #12's paraphrase ... routes to #40").

Invariants: checking never writes; only active edits' probe sets are checked (a retired edit routes
nothing, so its paraphrases cannot pass); a reason names the probe's edit and where the probe went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from core.types import Edit, RoutingDecision

T = TypeVar("T")
KINDS = {"prompt": "prompt", "in": "paraphrase", "out": "unrelated prompt"}
ROUTE_BATCH = 256  # probes routed per call (one embedding batch, k scorer pairs each)
MAX_LOG_PROBES = 2000  # the whole-log scan checks the newest active edits' probes up to this many


@dataclass(frozen=True)
class Probe:
    """One probe of an edit's set: the edit's own prompt ('prompt') or a stored probe ('in' / 'out')."""

    edit: Edit
    prompt: str
    kind: str  # "prompt" | "in" | "out"

    @property
    def expect(self) -> str:
        return "out" if self.kind == "out" else "in"

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.edit.id, self.kind, self.prompt)


@dataclass(frozen=True)
class ProbeCheck:
    """A probe and where it routed: the chosen edit (None: the base model) and the best score seen."""

    probe: Probe
    routed_to: Edit | None
    score: float | None
    threshold: float

    @property
    def passed(self) -> bool:
        return verdict(self.probe.edit.id, self.probe.expect, self.routed_to)

    def reason(self) -> str:
        """Where the probe went, in words, naming both edits when another one took it."""
        edit, kind = self.probe.edit, KINDS[self.probe.kind]
        where = _where(self.routed_to, self.score, self.threshold)
        if self.passed:
            return f"edit #{edit.id}'s {kind} routes to {where}, as expected"
        expected = f"#{edit.id}" if self.probe.expect == "in" else "the base model"
        return f"edit #{edit.id}'s {kind} routes to {where} instead of {expected}"


def verdict(edit_id: int, expect: str, routed_to: Edit | None) -> bool:
    """The one pass/fail rule: in scope routes to its own edit; out of scope routes to the base model."""
    if expect == "in":
        return routed_to is not None and routed_to.id == edit_id
    return routed_to is None


def _where(routed_to: Edit | None, score: float | None, threshold: float) -> str:
    if routed_to is not None:
        return f"#{routed_to.id} (→ {routed_to.target}, score {score:.2f})"
    if score is None:
        return "the base model (no active edit)"
    return f"the base model (best score {score:.2f}, below the threshold {threshold:.2f})"


def probe_sets(services, edits: Sequence[Edit]) -> list[Probe]:
    """The probe sets of these edits: each edit's own prompt, then its stored probes, in order."""
    stored = services.probes_for([e.id for e in edits])
    out = []
    for edit in edits:
        out.append(Probe(edit, edit.prompt, "prompt"))
        out += [Probe(edit, p.prompt, p.expect) for p in stored[edit.id]]
    return out


def check_probes(services, probes: Sequence[Probe]) -> list[ProbeCheck]:
    """Route every probe (batched; no generation) and judge it."""
    checks = []
    for start in range(0, len(probes), ROUTE_BATCH):
        chunk = probes[start : start + ROUTE_BATCH]
        decisions = services.route([p.prompt for p in chunk])
        checks += [_check(p, d) for p, d in zip(chunk, decisions)]
    return checks


def _check(probe: Probe, decision: RoutingDecision) -> ProbeCheck:
    chosen = decision.chosen
    best = chosen or (decision.candidates[0] if decision.candidates else None)
    return ProbeCheck(probe, chosen.edit if chosen else None, best.score if best else None, decision.threshold)


def check_edits(services, edit_ids: Iterable[int]) -> list[ProbeCheck]:
    """The probe sets of these edits (the active ones), checked."""
    ids = sorted(set(edit_ids))
    active = [e for e in services.repository.get_many(ids) if e.status == "active"] if ids else []
    return check_probes(services, probe_sets(services, active))


def neighbourhood(services, prompts: Sequence[str]) -> set[int]:
    """The ids of the active edits nearest to these prompts: the router's top-k by embedding."""
    if not prompts:
        return set()
    return {c.edit.id for d in services.route(list(prompts)) for c in d.candidates}


@dataclass(frozen=True)
class Regression:
    """The neighbourhood's probes before and after a write."""

    before: tuple[ProbeCheck, ...]
    after: tuple[ProbeCheck, ...]

    @property
    def now_failing(self) -> list[ProbeCheck]:
        """Probes that fail after the write and did not fail (or were not checked) before it."""
        failed = {c.probe.key for c in self.before if not c.passed}
        return [c for c in self.after if not c.passed and c.probe.key not in failed]

    @property
    def still_failing(self) -> list[ProbeCheck]:
        failed = {c.probe.key for c in self.before if not c.passed}
        return [c for c in self.after if not c.passed and c.probe.key in failed]

    @property
    def now_passing(self) -> list[ProbeCheck]:
        passed = {c.probe.key for c in self.after if c.passed}
        return [c for c in self.before if not c.passed and c.probe.key in passed]

    def summary(self) -> str:
        """One paragraph for the curator: how many probes were re-run, which now fail and why."""
        if not self.after:
            return "Probe check: no active edit nearby has probes to re-run."
        edits = len({c.probe.edit.id for c in self.after})
        head = f"Probe check: re-ran {len(self.after)} probe(s) of {edits} edit(s) nearby"
        new, old, fixed = self.now_failing, self.still_failing, self.now_passing
        parts = [f"{head}; {len(new)} now fail" + (": " + "; ".join(c.reason() for c in new) if new else "")]
        if fixed:
            parts.append(f"{len(fixed)} now pass")
        if old:
            parts.append(f"{len(old)} already failed before")
        return ". ".join(parts) + "."

    def to_dict(self) -> dict:
        """For the API: the probes re-run and those that now fail, with their reasons."""
        return {
            "checked": len(self.after),
            "now_failing": [_check_dict(c) for c in self.now_failing],
            "still_failing": len(self.still_failing),
            "now_passing": len(self.now_passing),
        }


def _check_dict(c: ProbeCheck) -> dict:
    return {
        "edit_id": c.probe.edit.id,
        "kind": KINDS[c.probe.kind],
        "prompt": c.probe.prompt,
        "routed_to": c.routed_to.id if c.routed_to else None,
        "reason": c.reason(),
    }


def guarded(
    services, prompts: Sequence[str], write: Callable[[], T], touched: Callable[[T], Iterable[int]] = lambda _: ()
) -> tuple[T, Regression]:
    """Run `write` between two checks of the probe sets near `prompts`; `touched(result)` adds the ids the
    write created or changed (a new edit's own probes). A write that raises propagates (no check after it).
    The checks are part of the write: their model work goes ahead of waiting reads (Services.writes_first)."""
    with services.writes_first():
        near = neighbourhood(services, prompts)
        before = check_edits(services, near)
        result = write()
        after = check_edits(services, near | neighbourhood(services, prompts) | set(touched(result)))
    return result, Regression(tuple(before), tuple(after))


def guarded_edit(services, edit_id: int, write: Callable[[int], Edit]) -> tuple[Edit, Regression]:
    """Change one edit (retire, restore, new target) between two checks of the probes near its prompt."""
    prompt = services.repository.get(edit_id).prompt
    return guarded(services, [prompt], lambda: write(edit_id), lambda e: [e.id])


@dataclass(frozen=True)
class LogScan:
    """Every failing probe of the log's active edits (the newest ones when the log has more probes than
    the scan's limit)."""

    failing: tuple[ProbeCheck, ...]
    checked: int
    edits: int
    active: int  # active edits in the log

    @property
    def partial(self) -> bool:
        return self.edits < self.active


def failing_probes(services, limit: int | None = MAX_LOG_PROBES) -> LogScan:
    """Check the probe sets of the active edits, newest first, up to `limit` probes (None: all of them);
    the failing ones."""
    active = list(reversed(services.repository.active_edits()))
    probes: list[Probe] = []
    edits = 0
    for start in range(0, len(active), 200):
        for group in _by_edit(probe_sets(services, active[start : start + 200])):
            if limit is not None and probes and len(probes) + len(group) > limit:
                return _scan(services, probes, edits, len(active))
            probes += group
            edits += 1
    return _scan(services, probes, edits, len(active))


def _scan(services, probes: list[Probe], edits: int, active: int) -> LogScan:
    checks = check_probes(services, probes)
    return LogScan(tuple(c for c in checks if not c.passed), len(checks), edits, active)


def _by_edit(probes: Sequence[Probe]) -> list[list[Probe]]:
    groups: dict[int, list[Probe]] = {}
    for p in probes:
        groups.setdefault(p.edit.id, []).append(p)
    return list(groups.values())
