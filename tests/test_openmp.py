"""core.openmp: work run on a passing thread returns its value or raises its error in the caller, and the OpenMP
pool its torch products made ends with the thread (the server's main thread then owns none)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from core.openmp import in_passing_thread


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_returns_the_value_from_another_thread_that_has_ended():
    seen = {}

    def work() -> str:
        seen["thread"] = threading.current_thread()
        return "loaded"

    assert in_passing_thread(work, "serac-load") == "loaded"
    assert seen["thread"] is not threading.current_thread() and seen["thread"].name == "serac-load"
    assert not seen["thread"].is_alive()


def test_raises_the_work_s_own_error_in_the_caller():
    def work() -> None:
        raise FileNotFoundError("models/scope/scope.safetensors is missing")

    with pytest.raises(FileNotFoundError, match="scope.safetensors is missing"):
        in_passing_thread(work, "serac-load")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or torch.get_num_threads() < 2, reason="Linux, 2+ threads")
def test_the_pool_of_helper_threads_made_by_torch_ends_with_the_passing_thread():
    a, b = torch.randn(512, 512), torch.randn(512, 64)
    before, during = _os_threads(), {}

    def work() -> None:
        torch.mm(a, b)  # MKL's parallel product: this thread's own OpenMP pool of helper threads
        during["threads"] = _os_threads()

    in_passing_thread(work, "serac-load")
    assert during["threads"] > before  # its own thread, and MKL's helpers when it ran the product in parallel
    deadline = time.monotonic() + 5
    while _os_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _os_threads() <= before  # none of them is left (another test's thread may have ended meanwhile)
