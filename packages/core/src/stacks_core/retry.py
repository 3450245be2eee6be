"""Which failures are transient, and a small retry loop with exponential backoff.

A failure is *transient* when it may pass on its own: the warehouse restarted or is restarting,
a connection dropped, another process briefly holds a DuckDB file. Orchestrators retry those
with backoff; every other error (bad SQL, a missing table, a wrong password) fails at once with
its sentence. :func:`is_transient` decides for any exception: a :class:`StacksError` flagged
``transient`` (:class:`~stacks_contract.errors.TransientError`), a database SQLSTATE of the
connection or shutdown classes, a library's own transient class (dlt's
``DatabaseTransientException``, ``ConnectionError``), or the database's sentence, anywhere in the
exception's chain. Tool-free: classes are matched by name, nothing is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from stacks_contract.errors import StacksError

__all__ = ["backoff", "is_transient", "retry_transient", "transient_message"]

T = TypeVar("T")

#: sentences of a connection lost or a server (re)starting: Postgres, psycopg, libpq, DuckDB
TRANSIENT_WORDS = (
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "terminating connection due to administrator command",
    "terminating connection due to unexpected postmaster exit",
    "server closed the connection unexpectedly",
    "connection refused",
    "could not connect to server",
    "could not receive data from server",
    "could not send data to server",
    "ssl syscall error",
    "ssl connection has been closed unexpectedly",
    "connection reset by peer",
    "broken pipe",
    "the connection is lost",
    "the connection is closed",
    "connection already closed",
    "consuming input failed",
    "no connection to the server",
    "lost synchronization with server",
    "connection timed out",
    "could not set lock on file",  # DuckDB: another process holds the file for a moment
    # Postgres catalog races of concurrent DDL ("create ... if not exists" in two sessions)
    'violates unique constraint "pg_',
    "tuple concurrently updated",
    "write-write conflict",  # DuckDB: two transactions wrote the same catalog entry or row
    "could not serialize access",
    "deadlock detected",
)
#: sentences that name a cause no retry fixes, even inside a connection error
PERMANENT_WORDS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied",
    "could not translate host name",
    "name or service not known",
    "syntax error",
)
#: SQLSTATEs: connection exceptions (08), admin/crash shutdown and "cannot connect now" (57P0x),
#: serialization failures and deadlocks (40001, 40P01), too many connections (53300)
_TRANSIENT_STATES = ("57P01", "57P02", "57P03", "40001", "40P01", "53300")
#: exception classes (by name, any base class) libraries raise for a transient failure
_TRANSIENT_CLASSES = frozenset(
    {
        "DatabaseTransientException",  # dlt
        "ConnectionError",  # builtins: refused, reset, aborted, broken pipe
        "AdminShutdown",  # psycopg
        "CannotConnectNow",
        "CrashShutdown",
        "ConnectionFailure",
        "ConnectionException",
    }
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and what wrappers carry as ``.exception`` (dlt)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        for nxt in (getattr(cur, "exception", None), cur.__cause__, cur.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def transient_message(text: str) -> bool:
    """The sentence names a transient cause (and no permanent one)."""
    low = text.lower()
    if any(w in low for w in PERMANENT_WORDS):
        return False
    return any(w in low for w in TRANSIENT_WORDS)


def _sqlstate(exc: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):  # psycopg 3, psycopg2
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def is_transient(exc: BaseException) -> bool:
    """May ``exc`` pass on its own, so that running the step again is worth it?"""
    texts: list[str] = []
    for e in _chain(exc):
        if isinstance(e, StacksError) and e.transient:
            return True
        if isinstance(e, KeyboardInterrupt | SystemExit):
            return False
        text = str(e)
        texts.append(text)
        if any(w in text.lower() for w in PERMANENT_WORDS):
            return False
        state = _sqlstate(e)
        if state is not None and (state.startswith("08") or state in _TRANSIENT_STATES):
            return True
        if {c.__name__ for c in type(e).__mro__} & _TRANSIENT_CLASSES:
            return True
    return transient_message(" ".join(texts))


def backoff(retry: int, *, first: float = 0.5, factor: float = 2.0, cap: float = 8.0) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
    return min(cap, first * factor ** max(0, retry - 1))


def retry_transient(
    fn: Callable[[], T],
    *,
    attempts: int = 6,
    first: float = 0.5,
    factor: float = 2.0,
    cap: float = 8.0,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, run again after a transient failure (up to ``attempts`` in all, waiting
    :func:`backoff` between them); any other failure, or the last one, is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                raise
            wait = backoff(attempt, first=first, factor=factor, cap=cap)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
