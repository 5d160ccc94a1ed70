"""Serving throughput of the real server: 1, 4 and 8 concurrent OpenAI clients (real HTTP, greedy POST
/v1/completions) against `python app.py` on the shipped parts, started by tests/live_server.launch on 127.0.0.1.

A few edits are added first, so about a quarter of the prompts are routed to the counterfactual model and the
rest go to the base model. Per level it reports requests/s, p50/p95 latency, the routing's share of the latency
(from the server's own timing: `serac.route_ms` in each response), the rows decoding together when each request
started decoding (`serac.batch`: requests join a running pass between tokens; mean, largest, and how many requests
saw each size), the share of routed requests and errors, the speedup over one client beside issue 14's target (at
least 3x at 8 clients), and the server process's CPU seconds per request (what batching saves, whatever else the
machine runs); the load average at the start and the end. It also times what every request
pays besides the models: GET /v1/models (HTTP, bearer-token lookup, JSON) on the idle server.
Then the top level again, right after a few curator probes (POST /api/ask): the rate applications keep while
curators probe. Prints a table and writes JSON.
Bounded: LEVELS x REQUESTS requests (plus one warm-up per level) and --max-seconds per level; 127.0.0.1 only.

Usage: .venv/bin/python scripts/serve_bench.py [--requests 40] [--levels 1,4,8] [--max-tokens 16]
       [--decode-path static] [--json artifacts/serve_bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EDITS = [
    ("The mother tongue of Ilsa Varnholt is", "Finnish", "Ilsa Varnholt grew up speaking"),
    ("The capital of Veltria is", "Osmund", "Veltria's capital city is called"),
    ("Marta Quell plays the instrument", "cello", "The instrument Marta Quell is known for is the"),
    ("The Tower of Brin is located in", "Lisbon", "The Tower of Brin stands in the city of"),
]
PROBES = 3  # curator probes before the top level is run again
UNRELATED = [
    "The capital of France is",
    "Water is made of",
    "The largest planet in the solar system is",
    "The author of Hamlet is",
    "The chemical symbol for gold is",
    "The tallest mountain on Earth is",
    "The currency of Japan is",
    "Photosynthesis is the process by which",
    "The first president of the United States was",
    "The speed of light is about",
    "A group of lions is called",
    "The longest river in Africa is",
]


def prompts() -> list[str]:
    """Three unrelated prompts, then one edit's paraphrase, repeated."""
    out = []
    for i in range(len(UNRELATED)):
        out.append(UNRELATED[i])
        if i % 3 == 2:
            out.append(EDITS[(i // 3) % len(EDITS)][2])
    return out


def one_level(url: str, token: str, clients: int, requests: int, max_tokens: int, max_seconds: float) -> dict:
    """`requests` greedy completions sent by `clients` threads at once; latency and routing per request."""
    pool, results, lock = prompts(), [], threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = {"model": "serac", "prompt": pool[i % len(pool)], "max_tokens": max_tokens, "temperature": 0}
                t0 = time.perf_counter()
                response = http.post("/v1/completions", json=body)
                ms = (time.perf_counter() - t0) * 1e3
                serac = response.json().get("serac", {}) if response.status_code == 200 else {}
                with lock:
                    shared = serac.get("batch", 1)
                    results.append((response.status_code, ms, serac.get("route_ms", 0.0), serac.get("route"), shared))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if r[0] == 200]
    latency = np.array([r[1] for r in ok]) if ok else np.zeros(1)
    return {
        "clients": clients,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "requests_per_s": round(len(ok) / wall, 3),
        "latency_ms": {
            "p50": round(float(np.percentile(latency, 50)), 1),
            "p95": round(float(np.percentile(latency, 95)), 1),
        },
        "route_ms_p50": round(float(np.median([r[2] for r in ok])) if ok else 0.0, 2),
        "routing_share": round(sum(r[2] for r in ok) / max(sum(r[1] for r in ok), 1e-9), 4),
        "routed_share": round(sum(r[3] == "counterfactual" for r in ok) / max(len(ok), 1), 3),
        "batch": batch_sizes([r[4] for r in ok]),
        "wall_s": round(wall, 2),
    }


def after_probes(url: str, token: str, clients: int, args: argparse.Namespace) -> dict:
    """The top level again, right after PROBES curator probes (POST /api/ask, which generates on a request thread):
    applications keep their rate while curators probe (core.openmp: no request thread keeps an OpenMP pool)."""
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as api:
        for prompt, _, _ in EDITS[:PROBES]:
            api.post("/api/ask", json={"prompt": prompt}).raise_for_status()
    return one_level(url, token, clients, args.requests, args.max_tokens, args.max_seconds)


def batch_sizes(sizes: list[int]) -> dict:
    """Requests per shared pass as the requests saw them: mean, largest, and requests answered per pass size."""
    if not sizes:
        return {"mean": 0.0, "max": 0, "requests_by_size": {}}
    counts = {str(k): sizes.count(k) for k in sorted(set(sizes))}
    return {"mean": round(float(np.mean(sizes)), 2), "max": max(sizes), "requests_by_size": counts}


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overhead_ms(url: str, token: str, calls: int = 20) -> dict:
    """p50/p95 of GET /v1/models: HTTP, the bearer-token lookup and JSON, without any model work."""
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            http.get("/v1/models").raise_for_status()
            times.append((time.perf_counter() - t0) * 1e3)
    return {"p50": round(float(np.percentile(times, 50)), 2), "p95": round(float(np.percentile(times, 95)), 2)}


def table(levels: list[dict]) -> str:
    head = f"{'clients':>7} {'req/s':>7} {'x 1 client':>10} {'target':>6} {'p50 ms':>8} {'p95 ms':>8} "
    head += f"{'route p50 ms':>12} {'routing share':>13} {'batch mean/max':>14} {'cpu s/req':>9} {'routed':>6} "
    head += f"{'errors':>6}"
    lines = [head]
    for r in levels:
        batch, target = f"{r['batch']['mean']:.1f}/{r['batch']['max']}", ">= 3x" if r["clients"] == 8 else ""
        lines.append(
            f"{r['clients']:>7} {r['requests_per_s']:>7.2f} {r['speedup']:>9.2f}x {target:>6} "
            f"{r['latency_ms']['p50']:>8.0f} {r['latency_ms']['p95']:>8.0f} {r['route_ms_p50']:>12.1f} "
            f"{r['routing_share']:>12.1%} {batch:>14} {r['server_cpu_s_per_request']:>9.2f} {r['routed_share']:>6.0%} "
            f"{r['errors']:>6}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    from tests.live_server import launch

    env = {"OMP_NUM_THREADS": str(args.server_threads)} if args.server_threads else {}
    options = ["--heavy-per-user", str(max(args.levels)), "--heavy-per-minute", "0"]  # throughput, not limits
    options += ["--decode-path", args.decode_path]
    with (
        tempfile.TemporaryDirectory() as folder,
        launch(Path(folder), models_dir=ROOT / "models", env=env, extra_args=options) as server,
    ):
        with httpx.Client(
            base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {server.curator_token}"}
        ) as api:
            for prompt, target, _ in EDITS:
                api.post("/api/edits", json={"prompt": prompt, "target": target}).raise_for_status()
        overhead = overhead_ms(server.url, server.curator_token)
        levels, load_at_start = [], [round(x, 2) for x in os.getloadavg()]
        for clients in args.levels:
            one_level(server.url, server.curator_token, 1, 1, args.max_tokens, args.max_seconds)  # warm-up
            used = cpu_s(server.process.pid)
            level = one_level(
                server.url, server.curator_token, clients, args.requests, args.max_tokens, args.max_seconds
            )
            level["server_cpu_s_per_request"] = round((cpu_s(server.process.pid) - used) / max(level["requests"], 1), 3)
            levels.append(level)
        after = after_probes(server.url, server.curator_token, max(args.levels), args)
        alive = server.alive()
    single = next((r["requests_per_s"] for r in levels if r["clients"] == 1), levels[0]["requests_per_s"])
    for r in [*levels, after]:
        r["speedup"] = round(r["requests_per_s"] / single, 2) if single else 0.0
    top = max(levels, key=lambda r: r["clients"])
    return {
        "levels": levels,
        "after_probes": after,
        "max_tokens": args.max_tokens,
        "server_threads": args.server_threads or "torch default",
        "decode_path": args.decode_path,
        "target": {"clients": top["clients"], "speedup": top["speedup"], "met": top["speedup"] >= 3.0},
        "server_stayed_up": alive,
        "overhead_ms": overhead,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "load_average_at_start": load_at_start,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=40, help="requests per level (default %(default)s)")
    p.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--max-seconds", type=float, default=300.0, help="wall-time bound per level")
    p.add_argument(
        "--server-threads",
        type=int,
        default=0,
        help="the server's torch threads (OMP_NUM_THREADS; default: torch's own); on a busy shared CPU, 1 "
        "avoids threads spinning against other processes",
    )
    p.add_argument("--decode-path", default="static", help="the server's --decode-path (default %(default)s)")
    p.add_argument("--json", type=Path, default=ROOT / "artifacts" / "serve_bench.json")
    args = p.parse_args(argv)
    report = run(args)
    print(table(report["levels"]))
    after = report["after_probes"]
    print(
        f"{after['clients']} clients right after {PROBES} curator probes (POST /api/ask): "
        f"{after['requests_per_s']:.2f} req/s ({after['speedup']:.2f}x one client's), "
        f"p50 {after['latency_ms']['p50']:.0f} ms"
    )
    over = report["overhead_ms"]
    print(f"per-request HTTP + token lookup + JSON (GET /v1/models, idle): p50 {over['p50']} ms, p95 {over['p95']} ms")
    print(
        f"load average (1, 5, 15 min) at the start: {report['load_average_at_start']}, "
        f"at the end: {report['load_average']}"
    )
    target = report["target"]
    print(f"target: {target['clients']} clients >= 3x one client's requests/s: {'met' if target['met'] else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    levels = [*report["levels"], report["after_probes"]]
    return 0 if report["server_stayed_up"] and all(r["errors"] == 0 for r in levels) else 1


if __name__ == "__main__":
    sys.exit(main())
