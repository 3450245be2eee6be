"""One dlt run as extract, then normalize + load, skipping the second half when nothing came."""

from __future__ import annotations

from typing import Any

__all__ = ["extract_then_load"]


def extract_then_load(pipeline: Any, source: Any, refresh: str | None = None) -> tuple[Any, ...]:
    """``pipeline.run(source)``, minus normalize and load when the extract wrote nothing.

    A run with no new data (an incremental cursor pushed down to the source) would otherwise
    still pay dlt's normalize and load of an empty package: ~45 ms of a ~160 ms no-op on
    Postgres here (bench/README.md, ``incremental_noop_vs_full``). The same public steps
    ``run`` takes: restore state from the warehouse, extract, then ``run()`` loads the pending
    package (one trace with normalize + load, which :meth:`DltStep.load_result` counts).
    Returns dlt's traces of the run: the extract's, then (unless skipped) normalize + load's.
    """
    if pipeline.config.restore_from_destination and not pipeline._state_restored:
        pipeline.sync_destination()
        # dlt's own "synced in this process" flag, which run() sets after its sync: run() below
        # must not sync again. Before a table's first load the dataset does not exist yet, and
        # a second sync would wipe the state (and the package) the extract just wrote.
        pipeline._state_restored = True
    pipeline.extract(source, refresh=refresh)
    extracted = pipeline.last_trace
    if not refresh and _nothing_to_load(pipeline):
        # the package holds no rows, no state change and no table to drop or truncate: discard
        # it (dlt restores the local state to where the package started, i.e. unchanged)
        pipeline.abort_packages()
        return (extracted,)
    pipeline.run()
    return (extracted, pipeline.last_trace)


def _nothing_to_load(pipeline: Any) -> bool:
    if getattr(pipeline, "refresh", None):
        return False  # a refresh mode: the load step drops / truncates tables
    for load_id in pipeline.list_extracted_load_packages():
        if pipeline.get_load_package_info(load_id).jobs.get("new_jobs"):
            return False  # rows, an empty file that truncates a replace table, or new state
    return not pipeline.list_normalized_load_packages()
