"""scripts/serve_bench.py's report (the live run itself is the benchmark, not a test): requests per shared pass as
the requests saw them, and the table's columns beside issue 14's 3x target."""

from __future__ import annotations

import os

from scripts.serve_bench import batch_sizes, cpu_s, table


def test_batch_sizes_count_requests_per_pass_size():
    assert batch_sizes([8, 8, 8, 8, 8, 8, 8, 8, 3, 3, 3]) == {
        "mean": 6.64,
        "max": 8,
        "requests_by_size": {"3": 3, "8": 8},
    }
    assert batch_sizes([]) == {"mean": 0.0, "max": 0, "requests_by_size": {}}


def test_the_table_shows_the_ratio_to_one_client_beside_the_target_at_eight():
    def level(clients, rps, speedup, sizes):
        return {
            "clients": clients,
            "requests_per_s": rps,
            "speedup": speedup,
            "latency_ms": {"p50": 1000.0, "p95": 1500.0},
            "route_ms_p50": 21.5,
            "routing_share": 0.012,
            "batch": batch_sizes(sizes),
            "server_cpu_s_per_request": 0.41,
            "routed_share": 0.25,
            "errors": 0,
        }

    lines = table([level(1, 0.5, 1.0, [1]), level(8, 1.6, 3.2, [8, 8, 7])]).splitlines()
    assert "x 1 client" in lines[0] and "target" in lines[0] and "batch mean/max" in lines[0]
    one, eight = lines[1].split(), lines[2].split()
    assert one[:3] == ["1", "0.50", "1.00x"] and ">=" not in one
    assert eight[:5] == ["8", "1.60", "3.20x", ">=", "3x"] and "7.7/8" in eight


def test_cpu_seconds_of_a_process_grow_with_its_work():
    before = cpu_s(os.getpid())
    sum(i * i for i in range(3_000_000))
    assert cpu_s(os.getpid()) > before
