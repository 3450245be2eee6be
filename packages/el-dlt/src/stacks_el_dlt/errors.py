"""From a dlt exception to the one line a user reads: where it failed, and why in the database's
own words (the whole message: Postgres names the column on its ``CONTEXT`` line)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stacks_contract.errors import StacksError, StepFailed, TransientError, WarehouseUnreachable
from stacks_contract.warehouse import Warehouse, redact

__all__ = [
    "TablesFailed",
    "failed_table",
    "looks_like_connection",
    "one_line",
    "resource_name",
    "root_message",
    "translate",
]

_CONNECTION_WORDS = (
    "connection refused",
    "could not connect",
    "connection to server",
    "could not translate host name",
    "timeout expired",
    "password authentication failed",
    "no such host",
    "name or service not known",
)


def root_message(exc: BaseException) -> str:
    seen: set[int] = set()
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        chain.append(cur)
        inner = getattr(cur, "exception", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    # the deepest exception with a message says what actually went wrong, in the database's
    # own words: all of them (Postgres names the column on a CONTEXT line), on one line
    for e in reversed(chain):
        msg = whole_message(e)
        if msg:
            return msg
    return type(exc).__name__


def whole_message(exc: BaseException) -> str:
    text = str(exc)
    if "Traceback (most recent call last)" in text:
        text = text.rsplit("Traceback (most recent call last)", 1)[-1]
        text = "\n".join(x for x in text.splitlines() if not x.startswith((" ", ":")))
    line = " ".join(text.split())
    return line if len(line) <= 600 else line[:597] + "..."


def failed_table(exc: BaseException) -> str | None:
    """The table of the failed load job (dlt's job id is ``<table>.<file id>.<format>``)."""
    cur: BaseException | None = exc
    seen: set[int] = set()
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        job_id = getattr(cur, "job_id", None)
        if isinstance(job_id, str) and "." in job_id:
            return job_id.split(".", 1)[0]
        inner = getattr(cur, "exception", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    return None


def resource_name(exc: BaseException) -> str | None:
    cur: BaseException | None = exc
    seen: set[int] = set()
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = getattr(cur, "resource_name", None) or getattr(cur, "pipe_name", None)
        if isinstance(name, str) and name:
            return name
        inner = getattr(cur, "exception", None)
        cur = inner if isinstance(inner, BaseException) else (cur.__cause__ or cur.__context__)
    return None


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    return line if len(line) <= 300 else line[:297] + "..."


def looks_like_connection(message: str) -> bool:
    low = message.lower()
    return any(w in low for w in _CONNECTION_WORDS)


def translate(
    exc: BaseException,
    *,
    step: str,
    dataset: str,
    warehouse: Warehouse,
    source_hint: str | None,
    mask: Callable[[str], str],
) -> StacksError:
    """A dlt exception as one sentence: where (dlt step, resource, source, table) and why."""
    if isinstance(exc, StacksError):
        return exc
    dlt_step = getattr(exc, "step", None)
    message = mask(redact(root_message(exc), warehouse))
    if dlt_step in ("sync", "load", None) and looks_like_connection(message):
        return WarehouseUnreachable(
            f"Cannot connect to the {warehouse.kind} warehouse "
            f"{warehouse.redacted_url()}: {message}"
        )
    where = f"dlt {dlt_step} step" if dlt_step else "dlt"
    resource = resource_name(exc)
    if resource:
        where += f" (resource {resource!r}"
        where += f", source {source_hint})" if source_hint else ")"
    elif source_hint:
        where += f" (source {source_hint})"
    if table := failed_table(exc):
        where += f" on table {dataset}.{table}"
    from stacks_core.retry import is_transient

    from stacks_el_dlt.logs import dlt_log_path

    # a connection lost or the warehouse restarting mid-load: orchestrators retry it
    kind = TransientError if is_transient(exc) else StepFailed
    return kind(step, f"{where} failed: {message} (dlt's log: {dlt_log_path()})")


class TablesFailed(StepFailed):
    """Some of a step's tables failed; the others loaded. ``result`` counts what did load, so an
    orchestrator records those rows in the failed run."""

    def __init__(self, step: str, message: str, result: Any) -> None:
        super().__init__(step, message)
        self.result = result
