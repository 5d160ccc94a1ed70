"""The `bench` report as a plain-text table (the JSON holds the same numbers and more)."""

from __future__ import annotations


def format_table(report: dict) -> str:
    return "\n".join(
        _insertion(report.get("insertion"))
        + _routing(report.get("routing"))
        + _lookup(report.get("lookup", []), report["settings"]["k"])
        + _restart(report.get("restart"))
        + _memory(report["peak_rss_bytes"])
        + _load(report.get("load_avg_1min", {}))
    )


def _ms(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _insertion(r: dict | None) -> list[str]:
    if not r:
        return []
    steps = "  ".join(f"{s} {_ms(r[s]['p50_ms'])}/{_ms(r[s]['p95_ms'])}" for s in ("log", "embed", "index"))
    return [
        f"edit insertion ({r['n']} edits, one at a time, onto {r['edits_before']} in log and memory, "
        f"index {r['index_kind']}), ms p50/p95:",
        f"  total {_ms(r['total']['p50_ms'])}/{_ms(r['total']['p95_ms'])}   {steps}",
        "",
    ]


def _routing(r: dict | None) -> list[str]:
    if not r:
        return []
    targets = r.get("targets", {})
    target = f" (targets p50 <= {targets['route_p50_ms']:.0f} ms, <= {targets['ratio_p50']:.2f})" if targets else ""
    fast = {True: "fast path", False: "torch path"}.get(r.get("fast_routing"), "route")
    lines = [
        f"routing overhead ({r['n_queries']} queries, {r['n_edits']} edits, index {r['index']}, "
        f"{r['scope_scorer']}, top_k {r['top_k']}){target}:",
        _route_line(fast, r),
    ]
    if "reference" in r:
        lines.append(_route_line("torch path", r["reference"]))
        lines.append(f"  decisions differing between the two paths: {r['differing']} of {r['n_queries']}")
    lines += [
        f"  base answer p50 {_ms(r['base_answer']['p50_ms'])} ms, p95 {_ms(r['base_answer']['p95_ms'])} ms",
        "",
    ]
    return lines


def _route_line(name: str, r: dict) -> str:
    s = r["steps_p50_ms"]
    ratio = "-" if r["ratio_p50"] is None else f"{r['ratio_p50']:.3f}"
    pairs = r.get("pairs_scored_mean")
    extra = f"; CPU p50 {_ms(r.get('cpu_p50_ms'))} ms, pairs scored {pairs:.2f}/query" if pairs is not None else ""
    return (
        f"  {name}: route p50 {_ms(r['route']['p50_ms'])} ms (embed {_ms(s['embed'])}, search {_ms(s['search'])}, "
        f"score {_ms(s['score'])}), p95 {_ms(r['route']['p95_ms'])} ms; / base answer (p50) = {ratio}{extra}"
    )


def _lookup(rows: list[dict], k: int) -> list[str]:
    if not rows:
        return []
    t = rows[0].get("targets", {})
    target = (
        f" (targets p50 <= {t['p50_ms']:.0f} ms, recall@{k} >= {t['recall_at_k']:.2f}, "
        f"peak RSS <= {t['peak_rss_bytes_at_1m'] / 1e9:.0f} GB at 1M)"
        if t
        else ""
    )
    lines = [
        f"scope lookup (single queries on one thread; * = the index chosen automatically at this size){target}:",
        f"  {'edits':>9} {'index':<32} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {f'recall@{k}':>9} "
        f"{'index MB':>9} {'peak MB':>8} {'+MB':>6} {'queries':>7}",
    ]
    for row in rows:
        for kind in ("flat", "approx"):
            m = row[kind]
            auto = "*" if (row["auto"] == "flat") == (kind == "flat") else " "
            lines.append(
                f"{auto} {row['size']:>9} {m['index']:<32} {m['build_s']:>8.2f} {_ms(m['p50_ms']):>8} "
                f"{_ms(m['p95_ms']):>8} {m['recall_at_k']:>9.3f} {m['index_bytes'] / 2**20:>9.1f} "
                f"{_mb(m.get('peak_rss_bytes')):>8} {_mb(m.get('rss_growth_bytes')):>6} {row['queries']:>7}"
            )
    return lines + ["  (peak MB: the process while building, models included; +MB: its growth over the RSS before)", ""]


def _mb(v) -> str:
    return "-" if v is None else f"{v / 2**20:.0f}"


def _memory(peaks: dict) -> list[str]:
    return [
        "peak RSS after each phase (ru_maxrss): " + ", ".join(f"{name} {b / 2**20:.0f} MB" for name, b in peaks.items())
    ]


def _load(loads: dict) -> list[str]:
    return ["load average (1 min) after each phase: " + ", ".join(f"{name} {v:.1f}" for name, v in loads.items())]


def _restart(r: dict | None) -> list[str]:
    if not r:
        return []
    m, full, empty, t = r["memory"], r["serve"], r["serve_empty_log"], r["targets"]
    gb = 1024**3
    return [
        f"restart over a {r['size']}-edit log with stored embeddings (each in a fresh process):",
        f"  memory + index loaded from the log: {m['load_s']:.1f} s, {m['index']}, "
        f"{m['memory_and_index_bytes'] / gb:.2f} GB over the process's {m['rss_before_bytes'] / gb:.2f} GB "
        f"(target <= {t['memory_rss_bytes'] / gb:.0f} GB); lookup with texts p50 {_ms(m['lookup_p50_ms'])} ms, "
        f"p95 {_ms(m['lookup_p95_ms'])} ms",
        f"  start to first answer: {full['first_answer_s']:.1f} s over {full['edits']} edits "
        f"(target <= {t['serve_s']:.0f} s; audit verified, models and index ready at {full['ready_s']:.1f} s), "
        f"{empty['first_answer_s']:.1f} s over an empty log (ready at {empty['ready_s']:.1f} s); "
        f"peak RSS {full['peak_rss_bytes'] / gb:.2f} GB vs {empty['peak_rss_bytes'] / gb:.2f} GB",
        *(
            _serve_split(name, r[key])
            for name, key in (("restart", "serve"), ("first start", "serve_cold"))
            if key in r
        ),
        "",
    ]


def _serve_split(name: str, s: dict) -> str:
    """Where a start's time went: the audit check (worker processes) beside the models and index in the server."""
    if "verify_s" not in s:
        return f"  {name}: first answer at {s['first_answer_s']:.1f} s"
    origin = s.get("index_origin", {})
    if origin.get("source") == "snapshot":
        how = (
            f"index read from its snapshot + {origin.get('replayed', 0)} changes replayed in {origin['seconds']:.1f} s"
        )
    else:
        how = f"index built from the stored embeddings in {origin.get('seconds', 0):.1f} s" + (
            f", snapshot written in {origin['snapshot_s']:.1f} s" if "snapshot_s" in origin else ""
        )
    return (
        f"  {name}: first answer at {s['first_answer_s']:.1f} s; audit verify {s['verify_s']:.1f} s beside models + "
        f"index {s['services_s']:.1f} s ({how}), then {s['wait_s']:.1f} s waiting for the check"
    )
