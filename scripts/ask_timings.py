"""Routing time as a running server reports it: distinct single queries through `POST /api/ask`, one at a time.

Issue 15 measures routing where it serves: each /api/ask answer carries the server's own `timings_ms` (embed,
retrieve, score, their sum route_ms, and the base answer's base_ms). This client asks `--queries` distinct
CounterFact prompts in turn (alternately a paraphrase and an unrelated prompt of the first `--records` records,
the edits the server was loaded with, e.g. by `app.py import train.json --limit 10000`), after one untimed
warm-up, and prints p50/p95 of each step, the route p50 over the base answer p50 and the issue's targets.
It starts no server and writes nothing to the edit log (with the server's default, asking logs no probe).

Usage: .venv/bin/python scripts/ask_timings.py --url http://127.0.0.1:7860 --token-file FILE
       [--data ../shared/data/counterfact/train.json] [--records 10000] [--queries 40] [--seed 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.benchmarks.routing import TARGETS  # noqa: E402
from core.datasets import read_edit_file  # noqa: E402

STEPS = ("embed_ms", "retrieve_ms", "score_ms", "route_ms", "base_ms")


def queries(path: str, records: int, n: int, seed: int) -> list[str]:
    """n distinct prompts: alternately a paraphrase and an unrelated prompt of randomly picked records."""
    cases = [c for _, c in read_edit_file(path, "counterfact", records).cases if c.paraphrases and c.unrelated]
    picked = np.random.default_rng(seed).choice(len(cases), size=min(n, len(cases)), replace=False)
    return [cases[i].paraphrases[0] if j % 2 == 0 else cases[i].unrelated[0] for j, i in enumerate(picked)]


def ask_all(url: str, token: str, prompts: list[str]) -> list[dict]:
    """The server's timings_ms (plus the route taken) of each prompt, asked one at a time after a warm-up."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        client.post("/api/ask", json={"prompt": prompts[0] + " (warm-up)"}).raise_for_status()
        out = []
        for prompt in prompts:
            reply = client.post("/api/ask", json={"prompt": prompt})
            reply.raise_for_status()
            body = reply.json()
            out.append({**body["timings_ms"], "route": body.get("route")})
    return out


def summary(rows: list[dict]) -> dict:
    """p50/p95 of every step, the route/base ratio and the targets beside them."""
    out = {step: {q: float(np.percentile([r[step] for r in rows], q)) for q in (50, 95)} for step in STEPS}
    routed = [r for r in rows if r["base_ms"] > 0]  # /api/ask computes the base answer of every query
    base_p50 = float(np.percentile([r["base_ms"] for r in routed], 50)) if routed else None
    ratio = out["route_ms"][50] / base_p50 if base_p50 else None
    return {"queries": len(rows), "steps_ms": out, "ratio_p50": ratio, "targets": TARGETS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--token-file", required=True, help="a file holding an API token (app.py token create USER)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "counterfact" / "train.json"))
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--queries", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args()
    token = Path(args.token_file).read_text().strip()
    result = summary(ask_all(args.url, token, queries(args.data, args.records, args.queries, args.seed)))
    result["load_avg_1min"] = os.getloadavg()[0]
    for step, q in result["steps_ms"].items():
        print(f"{step:12s} p50 {q[50]:8.2f}  p95 {q[95]:8.2f}")
    target = result["targets"]
    print(
        f"route p50 / base answer p50 = {result['ratio_p50']:.3f} "
        f"(targets p50 <= {target['route_p50_ms']:g} ms, <= {target['ratio_p50']:g}); "
        f"load {result['load_avg_1min']:.1f}"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
