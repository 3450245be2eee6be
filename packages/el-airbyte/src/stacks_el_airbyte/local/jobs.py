"""The local engine's jobs: Airbyte's job lifecycle, attempts, retries, cancel, faults on demand.

A job is ``pending`` until its thread starts, ``running`` while an attempt runs, ``incomplete``
between a failed attempt and its retry (Airbyte retries failed attempts), and ends
``succeeded``, ``failed`` (every attempt failed) or ``cancelled``. One connection runs one job at
a time: :meth:`JobBoard.create` raises :class:`SyncRunning` while another is not terminal.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stacks_el_airbyte.local.model import (
    ConnectionConfig,
    Executor,
    JobContext,
    JobType,
    SyncCancelled,
    SyncOutcome,
)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class SyncRunning(Exception):
    """A job of the connection is not terminal yet (the API answers 409)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class InjectedFailure(RuntimeError):
    """The failure an attempt raises when a test asked for it (:meth:`JobBoard.inject`)."""


@dataclass
class Fault:
    """Failure modes on demand for the next job of a connection."""

    #: the first N attempts fail, the next one runs
    fail_attempts: int = 0
    #: every attempt fails: the job fails
    fail_job: bool = False
    #: the server cancels the job (after ``delay_s``)
    cancel: bool = False
    #: every attempt waits this long before it runs (a slow job; cancellable)
    delay_s: float = 0.0
    message: str = "Injected failure: the source connector exited with code 1"


@dataclass
class Attempt:
    number: int
    status: str = "running"  # running | failed | succeeded | cancelled
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    failure: str | None = None


@dataclass
class Job:
    job_id: int
    connection_id: str
    job_type: JobType
    status: str = "pending"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)
    outcome: SyncOutcome = field(default_factory=SyncOutcome)
    cancelled: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def failure(self) -> str | None:
        failed = [a.failure for a in self.attempts if a.failure]
        return failed[-1] if failed else None


def _first_job_id() -> int:
    # job ids must not repeat across engine restarts on one warehouse: the rows a job wrote are
    # found by ``_airbyte_meta.sync_id``. Milliseconds since the epoch, then counting up.
    return int(time.time() * 1000)


class JobBoard:
    """Every job of the engine, and the threads that run them."""

    def __init__(
        self,
        connections: dict[str, ConnectionConfig],
        executor: Callable[[], Executor],
        *,
        max_attempts: int = 3,
        retry_wait_s: float = 0.2,
    ) -> None:
        self.connections = connections
        self._executor = executor
        self.max_attempts = max_attempts
        self.retry_wait_s = retry_wait_s
        self._jobs: dict[int, Job] = {}
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(_first_job_id())
        self._lock = threading.Lock()

    # --- the API's operations -------------------------------------------------------------------

    def create(self, connection_id: str, job_type: JobType) -> Job:
        with self._lock:
            for job in self._jobs.values():
                if job.connection_id == connection_id and not job.terminal:
                    raise SyncRunning(job.job_id)
            job = Job(next(self._ids), connection_id, job_type)
            self._jobs[job.job_id] = job
            fault = self._faults.pop(connection_id, None) or Fault()
        job.thread = threading.Thread(
            target=self._run, args=(job, fault), name=f"airbyte-job-{job.job_id}", daemon=True
        )
        job.thread.start()
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: int) -> Job | None:
        """Ask the job to stop; it is ``cancelled`` once its attempt has stopped."""
        job = self._jobs.get(job_id)
        if job is not None and not job.terminal:
            job.cancelled.set()
        return job

    def inject(self, connection_id: str, fault: Fault) -> None:
        with self._lock:
            self._faults[connection_id] = fault

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every job still running and wait for their threads."""
        for job in self.all():
            job.cancelled.set()
        deadline = time.monotonic() + timeout
        for job in self.all():
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    # --- one job --------------------------------------------------------------------------------

    def _set(self, job: Job, status: str) -> None:
        with self._lock:
            job.status = status
            job.updated_at = datetime.now(UTC)
            if status in TERMINAL:
                job.ended_at = job.updated_at

    def _run(self, job: Job, fault: Fault) -> None:
        connection = self.connections[job.connection_id]
        for number in range(1, self.max_attempts + 1):
            attempt = Attempt(number)
            job.attempts.append(attempt)
            self._set(job, "running")
            try:
                job.outcome = self._attempt(connection, job, attempt, fault)
            except SyncCancelled:
                self._end(attempt, "cancelled")
                self._set(job, "cancelled")
                return
            except Exception as exc:  # an attempt failed: Airbyte records it and retries
                self._end(attempt, "failed", _one_line(exc))
                if number == self.max_attempts or job.cancelled.is_set():
                    self._set(job, "cancelled" if job.cancelled.is_set() else "failed")
                    return
                self._set(job, "incomplete")
                if job.cancelled.wait(self.retry_wait_s):
                    self._set(job, "cancelled")
                    return
                continue
            self._end(attempt, "succeeded")
            self._set(job, "succeeded")
            return

    def _attempt(
        self, connection: ConnectionConfig, job: Job, attempt: Attempt, fault: Fault
    ) -> SyncOutcome:
        if fault.delay_s and job.cancelled.wait(fault.delay_s):
            raise SyncCancelled()
        if fault.cancel:
            job.cancelled.set()
            raise SyncCancelled()
        if job.cancelled.is_set():
            raise SyncCancelled()
        if fault.fail_job or attempt.number <= fault.fail_attempts:
            raise InjectedFailure(f"{fault.message} (attempt {attempt.number})")
        context = JobContext(job.job_id, job.job_type, attempt.number, job.cancelled)
        return self._executor().run(connection, context)

    def _end(self, attempt: Attempt, status: str, failure: str | None = None) -> None:
        attempt.status = status
        attempt.failure = failure
        attempt.ended_at = datetime.now(UTC)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."
