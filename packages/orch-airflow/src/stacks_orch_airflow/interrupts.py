"""Ctrl-C and SIGTERM during an in-process DAG run (``AirflowOrchestrator.run``).

Airflow's task runner catches every ``BaseException`` a task raises, ``KeyboardInterrupt``
included, and marks the task up for retry: left alone, ``dag.test()`` retries the task and runs
the rest of the DAG as if nothing happened. While a run is in progress :func:`catching` records
the signal and raises ``KeyboardInterrupt`` where the process is (the running task, or
``dag.test()``'s own loop); every task's pre-execute hook (:func:`stop_if_interrupted`, in the
DAG's default args) then fails without retry, so the DAG run ends at once; ``run()`` records the
run as interrupted and re-raises ``KeyboardInterrupt`` to its caller.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["catching", "stop_if_interrupted"]

_INTERRUPTED = threading.Event()


def stop_if_interrupted(context: Any) -> None:
    """A task's pre-execute hook: after an interrupt no task starts (and none is retried)."""
    if _INTERRUPTED.is_set():
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("interrupted (Ctrl-C or SIGTERM)")


@contextlib.contextmanager
def catching() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM handlers for the block (main thread only); the event says whether one came."""
    _INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield _INTERRUPTED
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _INTERRUPTED.set()
        previous = before[signal.Signals(signum)]
        if callable(previous):  # the caller's own handling too (the CLI: a second one leaves)
            previous(signum, frame)
        raise KeyboardInterrupt

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig in before:
        signal.signal(sig, interrupt)
    try:
        yield _INTERRUPTED
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
