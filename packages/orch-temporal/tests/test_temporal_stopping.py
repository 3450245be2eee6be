"""A step's thread stops when its activity is cancelled (stacks_orch_temporal.stopping); the
Ctrl-C cells of tests/test_faults_temporal.py check the same end to end (no load committed
after the signal)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from stacks_orch_temporal.stopping import StepStopped, StoppableCall


def test_a_running_call_stops_and_the_thread_takes_the_next_job() -> None:
    started, rounds = threading.Event(), []

    def step() -> str:
        started.set()
        while True:  # a step that would never end on its own (Python lines between queries)
            rounds.append(1)
            time.sleep(0.01)

    call = StoppableCall(step)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(call)
        assert started.wait(10)
        assert call.stop() is True
        with pytest.raises(StepStopped):
            future.result(timeout=10)
        # the same worker thread runs the next job untouched
        assert pool.submit(lambda: "next").result(timeout=10) == "next"
    assert call.stop() is False  # done: nothing to stop


def test_a_keyboard_interrupt_nobody_asked_for_stays_one() -> None:
    def step() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        StoppableCall(step)()
