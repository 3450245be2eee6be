"""dlt's working folder of a step, and what stacks reads from the state kept in it.

The folder is a cache of the warehouse's committed state: a killed run's pending packages are
never resumed (see :meth:`~stacks_el_dlt.step.DltStep.dlt_pipeline`), so dropping it must itself
survive a SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "STATE_FOLDERS",
    "cursors",
    "drop_working_folder",
    "pending_or_broken",
    "remove_dropped_folders",
]

#: prefix of a pipeline working folder moved aside by :func:`drop_working_folder`
_DROPPED_PREFIX = ".stacks-dropped-"
#: the per-warehouse folders of :func:`~stacks_el_dlt.destination.pipelines_dir`, for pruning
STATE_FOLDERS = ("duckdb-" + "?" * 16, "postgres-" + "?" * 16)


def drop_working_folder(pipeline: Any) -> Any:
    """``pipeline.drop()`` that a SIGKILL cannot leave half done.

    dlt's drop is one ``rmtree`` of the working folder, in directory order (here: ``schemas/``,
    ``load/``, ``state.json``, ``normalize/``). Killed after the pending package in
    ``load/normalized/`` is gone but before ``state.json`` is, it leaves the state of the killed
    extract (incremental cursor advanced) with no package to load: the next run sees nothing
    pending, keeps that local state (newer than the warehouse's, so nothing is restored) and
    extracts no rows, while the rows it stands for were never committed. So the folder first
    leaves in one atomic rename (a kill then finds it either whole, and drops again, or gone,
    and restores from the warehouse), and is deleted from its new name afterwards.
    """
    working = Path(pipeline.working_dir)
    aside = working.with_name(f"{_DROPPED_PREFIX}{working.name}-{uuid.uuid4().hex[:12]}")
    dropped: Path | None = aside
    try:
        os.rename(working, aside)
    except OSError:
        dropped = None  # e.g. a folder held open on Windows: dlt's own rmtree, as before
    pipeline = pipeline.drop()
    if dropped is not None:
        shutil.rmtree(dropped, ignore_errors=True)
    return pipeline


def pending_or_broken(pipeline: Any) -> bool:
    """Whether the working folder holds pending load packages, or is one dlt cannot read.

    dlt makes ``load/`` (with its version file) before ``load/normalized/``, and
    ``normalize/`` before ``normalize/extracted/``: a run killed in between leaves a folder
    whose listing raises ``FileNotFoundError`` in every later run (seen in the Dagster fault
    matrix, SIGKILL in extract). The folder is a cache of the warehouse: wipe it like a pending
    one."""
    try:
        return bool(pipeline.has_pending_data)
    except OSError:
        return True


def remove_dropped_folders(workdir: Path) -> None:
    # what a run killed during drop_working_folder's rmtree left behind; dlt never reads it
    for path in workdir.glob(f"{_DROPPED_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def stored_schema(pipeline: Any) -> Any:
    """The pipeline's default dlt schema (what earlier loads stored), or ``None``."""
    try:
        return pipeline.default_schema if pipeline.default_schema_name else None
    except Exception:
        return None


def cursors(pipeline: Any) -> dict[str, Any]:
    """resource -> last incremental cursor value, from the pipeline state."""
    out: dict[str, Any] = {}
    try:
        sources = pipeline.state.get("sources", {})
    except Exception:
        return out
    for source_state in sources.values():
        for res, res_state in (source_state.get("resources") or {}).items():
            for cursor in (res_state.get("incremental") or {}).values():
                if isinstance(cursor, dict) and "last_value" in cursor:
                    value = cursor["last_value"]
                    out[res] = value if isinstance(value, int | float | str) else str(value)
    return out
