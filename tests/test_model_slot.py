"""services.model_slot: `run` does its work holding the slot, on a passing thread (core.openmp), so the request's
thread owns no OpenMP pool; its result and its errors reach the caller, and the slot is free afterwards."""

from __future__ import annotations

import threading

import pytest

from services.model_slot import ModelSlot


def _held_by_someone(slot: ModelSlot) -> bool:
    """Whether another thread finds the slot taken now."""
    seen = {}

    def probe() -> None:
        seen["free"] = slot.acquire(timeout=0)
        if seen["free"]:
            slot.release()

    other = threading.Thread(target=probe)
    other.start()
    other.join()
    return not seen["free"]


def test_run_holds_the_slot_and_works_on_a_thread_that_ends():
    slot, seen = ModelSlot(), {}

    def work() -> list[float]:
        seen["thread"], seen["held"] = threading.current_thread(), _held_by_someone(slot)
        return [0.25, 0.75]

    assert slot.run(work) == [0.25, 0.75]
    assert seen["held"] and seen["thread"] is not threading.current_thread() and not seen["thread"].is_alive()
    assert not _held_by_someone(slot)


def test_run_raises_the_work_s_error_and_gives_the_slot_back():
    slot = ModelSlot()

    def work() -> None:
        raise ValueError("prompt too long for the model")

    with pytest.raises(ValueError, match="too long"):
        slot.run(work)
    assert not _held_by_someone(slot)


def test_run_inside_the_slot_is_reentrant_for_its_holder():
    slot = ModelSlot()
    with slot:  # a write's check that already holds the slot
        assert slot.run(lambda: "scored") == "scored"
    assert not _held_by_someone(slot)
