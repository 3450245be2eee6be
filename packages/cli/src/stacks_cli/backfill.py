"""``stacks run --backfill STEP[.TABLE] --since X [--until Y]``: re-deliver a time window.

The window rides on the contract's :class:`~stacks_contract.models.RunRequest.window`; the run
selects the step (or its one table) alone, and a step re-reads the rows whose cursor lies in
``[X, Y)`` without moving its cursors (:class:`~stacks_contract.ports.CursorState`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from stacks_contract.errors import ConfigError
from stacks_contract.models import StackSpec, Window
from stacks_contract.ports import CursorState

__all__ = ["BACKFILL", "backfill_selection"]


def BACKFILL(command: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option(
            "--backfill",
            metavar="STEP[.TABLE]",
            help="Re-deliver a time window of one EL step (or one of its tables), cursors kept.",
        ),
        click.option("--since", metavar="TIME", help="The window's start (ISO date or time)."),
        click.option("--until", metavar="TIME", help="The window's end, excluded (default: now)."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _when(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r} is not an ISO date or time (e.g. 2026-12-01)."
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def backfill_selection(
    spec: StackSpec, target: str, since: str | None, until: str | None
) -> tuple[tuple[str, ...], Window]:
    """``(select, window)`` of ``--backfill target --since --until``; ConfigError if wrong."""
    if not since:
        raise ConfigError("--backfill needs --since (the window's start).")
    step_name, _, table = target.partition(".")
    steps = {s.name: s for s in spec.el_steps}
    step: Any = steps.get(step_name)
    if step is None:
        raise ConfigError(
            f"--backfill {target!r}: no EL step {step_name!r} (steps: {', '.join(steps)})."
        )
    if not (isinstance(step, CursorState) and type(step).windows):
        raise ConfigError(f"--backfill {target!r}: step {step_name!r} cannot re-deliver a window.")
    start = _when(since, "--since")
    end = _when(until, "--until") if until else datetime.now(UTC)
    try:
        window = Window(start=start, end=end)
    except ValueError as exc:
        raise ConfigError(f"--backfill: {exc.errors()[0]['msg']}") from None  # type: ignore[attr-defined]
    if not table:
        return (step_name,), window
    produced = spec.step(step_name).produces()
    refs = [t for t in produced if t.name == table]
    if not refs:
        known = ", ".join(t.name for t in produced)
        raise ConfigError(
            f"--backfill {target!r}: step {step_name!r} has no table {table!r} "
            f"(its tables: {known})."
        )
    return (refs[0].key,), window
