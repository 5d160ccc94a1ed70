"""Load test of the real server: CLIENTS concurrent API clients (real HTTP, one curator token each) add EDITS edits
each through POST /api/edits, with retires, restores, target changes, reads and a few asks interleaved.

Afterwards it checks the invariants of issue 6 and prints a table and writes JSON:
- the log holds exactly CLIENTS x EDITS edits, each acknowledged one with its prompt, status and target as
  its client left it (an edit missing or different counts as lost; must be 0);
- the index size equals the log's active edits and holds exactly them (GET /api/stats);
- one `add` audit row per edit, one row per acknowledged retire/restore/change, and the hash chain verifies
  (`app.py audit verify`);
- no 5xx and no unexpected status; the server is still up.
Bounded: CLIENTS x EDITS requests plus about a fifth more, and --max-seconds of wall time; 127.0.0.1 only.

Usage: .venv/bin/python scripts/load_test.py [--clients 8] [--edits 500] [--json artifacts/load.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RELATIONS = (
    "The capital of",
    "The official language of",
    "The currency of",
    "The founder of",
    "The largest river of",
    "The national animal of",
    "The chief export of",
    "The patron saint of",
)


@dataclass
class Call:
    kind: str
    status: int  # 0: no response (transport error)
    ms: float


@dataclass
class ClientRun:
    """What one client did and what it expects the log to hold for its edits afterwards."""

    name: str
    calls: list[Call] = field(default_factory=list)
    expected: dict[int, dict] = field(default_factory=dict)  # edit id -> {prompt, target, status}
    unexpected: list[str] = field(default_factory=list)
    finished: bool = False
    acked: Counter = field(default_factory=Counter)  # successful writes by audit action


def edit_text(client: int, i: int) -> tuple[str, str]:
    return f"{RELATIONS[i % len(RELATIONS)]} the load-test realm Q{client}x{i} is", f"Answer {client}-{i}"


def _call(http: httpx.Client, run: ClientRun, kind: str, method: str, path: str, ok: int, **kw) -> dict | None:
    start = time.perf_counter()
    try:
        response = http.request(method, path, **kw)
    except httpx.HTTPError as exc:
        run.calls.append(Call(kind, 0, (time.perf_counter() - start) * 1000))
        run.unexpected.append(f"{kind} {path}: {type(exc).__name__}: {exc}")
        return None
    run.calls.append(Call(kind, response.status_code, (time.perf_counter() - start) * 1000))
    if response.status_code != ok:
        run.unexpected.append(f"{kind} {path}: {response.status_code} {response.text[:200]}")
        return None
    return response.json()


def client_loop(url: str, token: str, name: str, client: int, edits: int, ask: bool, deadline: float) -> ClientRun:
    """Add `edits` edits; every 10th a read, 25th a retire, 50th a restore, 40th a target change, 100th a list."""
    run, ids, retired = ClientRun(name), [], []
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(edits):
            if time.monotonic() > deadline:
                run.unexpected.append(f"stopped at edit {i}: past the time limit")
                return run
            prompt, target = edit_text(client, i)
            # the realms' prompts differ by a number, so each falls in the others' scope: a load test keeps them all
            add = {"prompt": prompt, "target": target, "on_conflict": "keep", "reason": "load test: synthetic realms"}
            body = _call(http, run, "add", "POST", "/api/edits", 201, json=add)
            if body:
                ids.append(body["edit"]["id"])
                run.expected[ids[-1]] = {"prompt": prompt, "target": target, "status": "active"}
                run.acked["add"] += 1
            _interleaved(http, run, i, ids, retired)
            if ask and i == edits // 2:
                _call(http, run, "ask", "POST", "/api/ask", 200, json={"prompt": prompt})
    run.finished = True
    return run


def _interleaved(http: httpx.Client, run: ClientRun, i: int, ids: list[int], retired: list[int]) -> None:
    if i % 10 == 9 and ids:
        got = _call(http, run, "read", "GET", f"/api/edits/{ids[-1]}", 200)
        if got and got["prompt"] != run.expected[ids[-1]]["prompt"]:
            run.unexpected.append(f"read edit {ids[-1]}: prompt {got['prompt']!r} is not what was added")
    if i % 25 == 24 and len(ids) > 5:
        _write(
            http,
            run,
            "retire",
            ids[-6],
            "POST",
            f"/api/edits/{ids[-6]}/retire",
            {"reason": "load test"},
            status="retired",
        )
        retired.append(ids[-6])
    if i % 50 == 49 and len(retired) >= 2:
        edit_id = retired.pop(0)
        _write(
            http,
            run,
            "restore",
            edit_id,
            "POST",
            f"/api/edits/{edit_id}/restore",
            {"reason": "load test"},
            status="active",
        )
    if i % 40 == 39 and len(ids) > 1:
        new_target = f"Changed {run.name}-{i}"
        _write(
            http, run, "change", ids[-2], "PATCH", f"/api/edits/{ids[-2]}", {"target": new_target}, target=new_target
        )
    if i % 100 == 99:
        _call(http, run, "list", "GET", "/api/edits", 200, params={"search": "load-test realm", "limit": 20})


def _write(http, run: ClientRun, action: str, edit_id: int, method: str, path: str, body: dict, **expect) -> None:
    if _call(http, run, action, method, path, 200, json=body) is not None:
        run.expected[edit_id].update(expect)
        run.acked[action] += 1


def run_clients(url: str, tokens: dict[str, str], edits: int, ask_clients: int, max_seconds: float) -> list[ClientRun]:
    """One thread per token; all start together."""
    deadline, start = time.monotonic() + max_seconds, threading.Barrier(len(tokens))

    def one(args):
        client, (name, token) = args
        start.wait()
        return client_loop(url, token, name, client, edits, client < ask_clients, deadline)

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(one, enumerate(sorted(tokens.items()))))


def _all_edits(http: httpx.Client) -> dict[int, dict]:
    out, offset = {}, 0
    while True:
        page = http.get("/api/edits", params={"offset": offset, "limit": 1000}).raise_for_status().json()
        out.update({e["id"]: e for e in page["edits"]})
        offset += len(page["edits"])
        if not page["edits"] or offset >= page["total"]:
            return out


def audit_verify(db_url: str) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--db", db_url, "audit", "verify"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def check(url: str, token: str, db_url: str, runs: list[ClientRun], expected_edits: int) -> dict:
    """The invariants after the run: {'failures': [...], 'lost': n, 'stats': GET /api/stats, 'audit_verify': ...}."""
    with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {token}"}) as http:
        stats = http.get("/api/stats").raise_for_status().json()
        log = _all_edits(http)
    expected = {i: e for run in runs for i, e in run.expected.items()}
    lost = sorted(i for i, want in expected.items() if i not in log or any(log[i][k] != v for k, v in want.items()))
    acked = sum((run.acked for run in runs), Counter())
    verified, verify_text = audit_verify(db_url)
    failures = [f"{run.name} did not finish" for run in runs if not run.finished]
    failures += [f"{len(lost)} acknowledged edits lost or changed, e.g. {lost[:5]}"] if lost else []
    failures += _count_failures(stats, log, expected_edits, acked)
    failures += [] if verified else [f"audit verify failed: {verify_text}"]
    return {
        "failures": failures,
        "lost": len(lost),
        "stats": stats,
        "audit_verify": verify_text,
        "acknowledged": dict(acked),
    }


def _count_failures(stats: dict, log: dict, expected_edits: int, acked: Counter) -> list[str]:
    out = []
    active = sum(e["status"] == "active" for e in log.values())
    if stats["edits"]["total"] != expected_edits or len(log) != expected_edits:
        out.append(f"log holds {stats['edits']['total']} edits ({len(log)} listed); expected {expected_edits}")
    index = stats["index"]
    if not index["consistent"] or index["size"] != active or stats["edits"]["active"] != active:
        out.append(f"index {index} does not match the log's {active} active edits")
    by_action = stats["audit"]["by_action"]
    for action in ("add", "retire", "restore", "change"):
        if by_action.get(action, 0) != acked.get(action, 0):
            out.append(f"audit has {by_action.get(action, 0)} {action!r} rows; {acked.get(action, 0)} acknowledged")
    return out


def summarise(runs: list[ClientRun], wall_s: float, checked: dict, clients: int, edits: int) -> dict:
    calls = [c for run in runs for c in run.calls]
    kinds = sorted({c.kind for c in calls})
    return {
        "clients": clients,
        "edits_per_client": edits,
        "wall_s": round(wall_s, 1),
        "requests": len(calls),
        "requests_served": sum(c.status > 0 for c in calls),
        "requests_per_s": round(len(calls) / wall_s, 1) if wall_s else None,
        "errors": sum(len(run.unexpected) for run in runs),
        "server_errors_5xx": sum(c.status >= 500 for c in calls),
        "edits_lost": checked["lost"],
        "latency_ms": _latency(calls),
        "by_kind": {
            k: dict(count=sum(c.kind == k for c in calls), **_latency([c for c in calls if c.kind == k])) for k in kinds
        },
        "statuses": dict(Counter(str(c.status) for c in calls)),
        "failures": checked["failures"],
        "unexpected": [u for run in runs for u in run.unexpected][:20],
        "stats": checked["stats"],
        "audit_verify": checked["audit_verify"],
        "acknowledged": checked["acknowledged"],
    }


def _latency(calls: list[Call]) -> dict:
    if not calls:
        return {"p50": None, "p95": None, "max": None}
    ms = np.array([c.ms for c in calls])
    return {
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "max": round(float(ms.max()), 1),
    }


def table(report: dict) -> str:
    lines = [f"{'kind':<8} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"]
    for kind, row in report["by_kind"].items():
        lines.append(f"{kind:<8} {row['count']:>6} {row['p50']:>8} {row['p95']:>8} {row['max']:>8}")
    lat = report["latency_ms"]
    lines.append(f"{'all':<8} {report['requests']:>6} {lat['p50']:>8} {lat['p95']:>8} {lat['max']:>8}")
    lines.append(
        f"clients {report['clients']} x {report['edits_per_client']} edits in {report['wall_s']} s "
        f"({report['requests_per_s']} req/s); errors {report['errors']}, 5xx {report['server_errors_5xx']}, "
        f"edits lost {report['edits_lost']}; index {report['stats']['index']['size']} = active "
        f"{report['stats']['edits']['active']}; audit rows {report['stats']['audit']['rows']}"
    )
    lines.append("invariants: " + ("all hold" if not report["failures"] else "; ".join(report["failures"])))
    return "\n".join(lines)


def load_test(server, clients: int, edits: int, ask_clients: int, max_seconds: float) -> dict:
    """Run the load against a tests.live_server.LiveServer whose tokens include load1..loadN, then check."""
    tokens = {f"load{c}": server.tokens[f"load{c}"] for c in range(1, clients + 1)}
    start = time.perf_counter()
    runs = run_clients(server.url, tokens, edits, ask_clients, max_seconds)
    wall = time.perf_counter() - start
    checked = check(server.url, server.curator_token, server.db_url, runs, clients * edits)
    report = summarise(runs, wall, checked, clients, edits)
    report["database"] = server.db_url.split(":", 1)[0]
    if not server.alive():
        report["failures"].append("the server died")
    return report


def load_users(clients: int) -> list[tuple[str, str, str]]:
    return [(f"load{c}", "curator", f"load-password-{c}") for c in range(1, clients + 1)]


def main(argv: list[str] | None = None) -> int:
    from tests.live_server import launch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--edits", type=int, default=500, help="edits each client adds")
    p.add_argument("--ask-clients", type=int, default=8, help="how many clients also ask one prompt mid-run")
    p.add_argument("--max-seconds", type=float, default=1200)
    p.add_argument("--json", default=str(ROOT / "artifacts" / "load.json"))
    p.add_argument(
        "--db", default=None, help="an empty edit log to serve (e.g. PostgreSQL); default a temp SQLite file"
    )
    args = p.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="serac-load-") as folder,
        launch(Path(folder), load_users(args.clients), args.db) as server,
    ):
        report = load_test(server, args.clients, args.edits, args.ask_clients, args.max_seconds)
    print(table(report))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return 0 if not report["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
