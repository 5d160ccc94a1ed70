"""Running test work on several threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(target: Callable[[int], object], count: int) -> list:
    """Call target(i) for i in range(count), each on its own thread, all released at once by a barrier.

    Slot i of the result holds what target(i) returned, or the exception it raised (for the test to inspect).
    """
    results: list = [None] * count
    start = threading.Barrier(count)

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results
