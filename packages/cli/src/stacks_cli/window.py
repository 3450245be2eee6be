"""``stacks run --window A..B``: the time window a run re-delivers (``RunRequest.window``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from stacks_cli.common import EXIT_CONFIG, fail

if TYPE_CHECKING:  # imported when used: `stacks run` prints its first line before the contract
    from stacks_contract.models import Window

__all__ = ["WINDOW_HELP", "parse_window"]

WINDOW_HELP = (
    "Re-deliver the source rows of this half-open time window, START..END (dates or ISO "
    "times, UTC unless they name a zone), e.g. 2026-12-01..2026-12-02; EL cursors stay put."
)


def _bound(text: str, whole: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"--window {whole!r}: {text.strip()!r} is not a date or ISO time "
            "(e.g. 2026-12-01 or 2026-12-01T06:00:00Z).",
            EXIT_CONFIG,
        )
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_window(text: str | None) -> Window | None:
    """``START..END`` as a :class:`Window`; a malformed or empty window is exit 2."""
    if not text:
        return None
    from stacks_contract.models import Window

    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        fail(f"--window {text!r} is not START..END (e.g. 2026-12-01..2026-12-02).", EXIT_CONFIG)
    first, last = _bound(start, text), _bound(end, text)
    if last <= first:
        fail(f"--window {text!r} ends before it starts.", EXIT_CONFIG)
    return Window(start=first, end=last)
