"""As ``el_pg_merge_reload``, the source declaring dlt's upsert with ``skip_unchanged_rows``
on the row version ``updated_at`` (no el-dlt change: a hint a source can set)."""

from __future__ import annotations

from typing import Any

from harness import Bench

from cases.el_pg_merge_reload import pg_keyed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ()
#: part of a --quick run
QUICK = False


#: what a source can declare today for a re-load that skips unchanged rows (dlt's upsert hint)
UPSERT_SKIP_UNCHANGED: dict[str, Any] = {
    "disposition": "merge",
    "strategy": "upsert",
    "skip_unchanged_rows": True,
    "row_version_column_name": "updated_at",
}


def run(b: Bench) -> None:
    pg_keyed(b, UPSERT_SKIP_UNCHANGED, "upsert_")
