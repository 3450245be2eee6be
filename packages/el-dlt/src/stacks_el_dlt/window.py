"""A run's window (``RunRequest.window``) as dlt's own backfill: each incremental resource of the
source gets ``initial_value`` / ``end_value`` at the window's ends. dlt then reads only the rows
whose cursor falls in ``[start, end)`` (merged on their keys as any load) and, because an end
value is set, leaves the incremental state where it was: the next run without a window goes on
from the cursor it had."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import Window

__all__ = ["apply_window"]


def _bound(value: datetime, like: Any) -> Any:
    """``value`` in the cursor's own type (an ISO string is compared as text by dlt)."""
    if isinstance(like, str):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if like.endswith("Z") else text
    if isinstance(like, datetime):
        return value
    if isinstance(like, date):
        return value.date()
    return value


def apply_window(source: Any, window: Window) -> None:
    """Bound every selected incremental resource of ``source`` to ``window``."""
    import dlt

    for name, resource in source.selected_resources.items():
        wrapper = getattr(resource, "incremental", None)
        if wrapper is None:
            continue  # not incremental: a window cannot narrow it, it loads as always
        current = wrapper.incremental
        if current is None:
            # the cursor is an argument the source passes itself (dlt's rest_api does): a hint
            # cannot bound it, and loading everything would not be the window
            raise ConfigError(
                f"Resource {name!r} of the dlt source passes its incremental cursor as an "
                "argument of its own, so a window cannot bound it (give the source "
                "initial_value/end_value instead)."
            )
        if current.last_value_func is not max:
            raise ConfigError(
                f"A window needs an ascending cursor: resource {name!r} of the dlt source is "
                "incremental on another last-value function."
            )
        like = current.initial_value if current.initial_value is not None else window.start
        resource.apply_hints(
            incremental=dlt.sources.incremental(
                current.cursor_path,
                initial_value=_bound(window.start, like),
                end_value=_bound(window.end, like),
                primary_key=current.primary_key,
                on_cursor_value_missing=current.on_cursor_value_missing,
                range_start="closed",
                range_end="open",
            )
        )
