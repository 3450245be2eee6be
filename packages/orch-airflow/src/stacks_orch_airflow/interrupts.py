"""Ctrl-C and SIGTERM during an in-process DAG run (``AirflowOrchestrator.run``).

Airflow's task runner catches every ``BaseException`` a task raises, ``KeyboardInterrupt``
included, and marks the task up for retry: left alone, ``dag.test()`` retries the task and runs
the rest of the DAG as if nothing happened. While a run is in progress :func:`catching` records
the signal and raises ``KeyboardInterrupt`` where the process is (the running task, which stops:
dbt cancels its queries, an EL step its load), and from then on drops Airflow's log lines (the
interrupted task's traceback). The task's state-change callback (:func:`leave_if_interrupted`,
put on every task by :func:`stop_on_interrupt`) then raises ``KeyboardInterrupt`` again where
Airflow does not catch it, so ``dag.test()`` returns at once and no other task starts; ``run()``
records the run as interrupted and re-raises ``KeyboardInterrupt`` to its caller.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["catching", "leave_if_interrupted", "stop_if_interrupted", "stop_on_interrupt"]

_INTERRUPTED = threading.Event()
#: every state-change callback a task has: one of them runs whatever the interrupt did to it
_CALLBACKS = (
    "on_failure_callback",
    "on_retry_callback",
    "on_success_callback",
    "on_skipped_callback",
)


def stop_if_interrupted(context: Any) -> None:
    """A task's pre-execute hook: after an interrupt no task starts (and none is retried)."""
    if _INTERRUPTED.is_set():
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("interrupted (Ctrl-C or SIGTERM)")


def leave_if_interrupted(context: Any) -> None:
    """A task's state-change callback: after an interrupt, leave ``dag.test()``. Airflow runs
    callbacks after the task's own catch-all and guards them with ``except Exception`` only, so
    this ``KeyboardInterrupt`` ends the DAG run's loop instead of the next task starting."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def stop_on_interrupt(dag: Any) -> Any:
    """``dag`` with :func:`leave_if_interrupted` last among every task's state-change callbacks
    (after a Cosmos task's own ``on_failure_callback``, which records the failed model)."""
    for task in dag.tasks:
        for kind in _CALLBACKS:
            callbacks = list(getattr(task, kind, None) or ())
            if leave_if_interrupted not in callbacks:
                setattr(task, kind, [*callbacks, leave_if_interrupted])
    return dag


def _drop_after_interrupt(_logger: Any, _method: str, event_dict: Any) -> Any:
    """A structlog processor: once interrupted, Airflow's lines (the stopped task's traceback,
    its retry bookkeeping) are not what the user asked for; the caller prints one line."""
    if _INTERRUPTED.is_set():
        import structlog

        raise structlog.DropEvent
    return event_dict


class _DropAfterInterrupt(logging.Filter):
    """The same for stdlib records (Cosmos, dbt's adapters) on the root logger's handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _INTERRUPTED.is_set()


def _silent_after_interrupt() -> contextlib.AbstractContextManager[None]:
    from stacks_orch_airflow.inprocess import filtered_airflow_logs

    return filtered_airflow_logs(_drop_after_interrupt, _DropAfterInterrupt())


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
    with _silent_after_interrupt():
        for sig in before:
            signal.signal(sig, interrupt)
        try:
            yield _INTERRUPTED
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)
