"""A step's thread that stops when its activity is cancelled.

An activity runs its step (dlt, dbt) in a thread while it heartbeats. When the run is cancelled
(Ctrl-C in ``stacks run``, which shuts the in-process worker down; a cancel from the Temporal
UI; a lost heartbeat) the activity's coroutine is cancelled, but a thread cannot be: left alone
the step went on, ``asyncio.run`` waited for it on the way out, and an EL load committed seconds
after the signal. :meth:`StoppableCall.stop` raises ``KeyboardInterrupt`` in that thread (the
interpreter's asynchronous exception, delivered at the step's next Python line: a query already
inside the database finishes or rolls back, nothing later starts), which the tools treat as a
Ctrl-C: dlt stops before its next job and never marks the package loaded, dbt cancels its
queries and builds no further model.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["StepStopped", "StoppableCall"]

T = TypeVar("T")


class StepStopped(Exception):
    """What a stopped call raises to its awaiter (a plain exception: asyncio re-raises a
    ``KeyboardInterrupt`` coming out of a thread's future into the event loop itself)."""


class StoppableCall(Generic[T]):
    """``fn`` as a callable for a worker thread, stoppable from another thread while it runs."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._thread: int | None = None  # the ident of the thread running fn, while it runs
        self._stopped = False

    def __call__(self) -> T:
        with self._lock:
            self._thread = threading.get_ident()
        try:
            return self._fn()
        except KeyboardInterrupt:
            if not self._stopped:
                raise
            raise StepStopped("the run was cancelled") from None
        finally:
            with self._lock:
                self._thread = None

    def stop(self) -> bool:
        """Interrupt ``fn`` if it is running (never the thread's next job: the lock orders this
        after ``fn`` started and before it returned). True if it was."""
        with self._lock:
            if self._thread is None:
                return False
            self._stopped = True
            hit = ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread), ctypes.py_object(KeyboardInterrupt)
            )
            return bool(hit == 1)
