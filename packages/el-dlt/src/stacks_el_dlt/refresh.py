"""Full refresh, and recovery when raw tables were dropped behind a step's back.

Both reload the step's tables from scratch, atomically per table: each resource's state
(incremental cursors, e.g. the files source's ``modification_date``) is reset, so the run
re-reads everything the source holds, and each table is loaded with dlt's ``replace`` write
disposition and its ``insert-from-staging`` strategy (the destination's ``replace_strategy``,
see :func:`~stacks_el_dlt.destination.dlt_destination`): the new rows go to the staging table
first, then one transaction empties the table and inserts them. So a table whose load fails
keeps its old rows, and the others are replaced (dlt's ``refresh="drop_data"`` truncates every
table before the first row loads). Tables are never dropped: a dbt view over a raw table would
make ``DROP TABLE`` fail on Postgres, and other steps' tables in a shared dataset are never
touched. Other steps keep their tables and cursors: every step is its own dlt pipeline with its
own source schema. ``scd2`` tables keep their history: they merge every row read again (rows
gone from the source are retired, as dlt's scd2 does).

Recovery: before a run the step compares the tables its dlt schema says were loaded with the
tables the warehouse holds. A table that is gone (``DROP SCHEMA raw CASCADE``, or one ``DROP
TABLE``) is forgotten by the schema (so dlt creates it again) and the step reloads from scratch.
Without this, a step whose state survived (locally, or in the warehouse when only a table went)
extracts nothing and the table never comes back until the source changes.
"""

from __future__ import annotations

from typing import Any

from stacks_contract.models import RunRequest
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import Warehouse

from stacks_el_dlt.names import QUARANTINE_TABLE

__all__ = ["missing_tables", "prepare_run", "reload_resources"]


def prepare_run(
    step_name: str,
    pipeline: Any,
    request: RunRequest,
    warehouse: Warehouse,
    dataset: str,
    report: Reporter = silent,
) -> bool:
    """Sync ``pipeline`` with the warehouse; whether this run reloads the step from scratch
    (a full refresh, or raw tables gone: see :func:`reload_resources`).

    After this call ``pipeline.run()`` does not sync again (dlt's own "restored" flag is set).
    """
    if pipeline.config.restore_from_destination and not pipeline._state_restored:
        pipeline.sync_destination()
        # dlt's "synced in this process" flag, which run() sets after its own sync: a second
        # sync before a table's first load would wipe the state the extract just wrote
        pipeline._state_restored = True
    gone = missing_tables(pipeline, warehouse, dataset)
    data_gone = [t for t in gone if t != QUARANTINE_TABLE]
    if request.full_refresh:
        report(step_name, "full refresh: reloading every table of the step from the source")
    elif data_gone:
        names = ", ".join(f"{dataset}.{t}" for t in data_gone)
        report(step_name, f"{names} missing in the warehouse: reloading the step from the source")
    else:
        return False
    return True


def reload_resources(pipeline: Any, source: Any) -> None:
    """Reset the state of ``source``'s selected resources and load their tables with
    ``replace`` (scd2 tables keep merging), as the module docstring says."""
    # with their parents: a transformer's cursor may live in the resource feeding it (the files
    # source's file dates); dlt's own drop_data resets the same set
    names = {r.name for r in source.resources.extracted}
    if pipeline is not None:
        with pipeline.managed_state() as state:
            for section in state.get("sources", {}).values():
                resources = section.get("resources") or {}
                for name in names:
                    resources.pop(name, None)
    for resource in source.selected_resources.values():
        disposition = resource.write_disposition
        if isinstance(disposition, dict) and disposition.get("strategy") == "scd2":
            continue
        resource.apply_hints(write_disposition="replace")


def missing_tables(pipeline: Any, warehouse: Warehouse, dataset: str) -> list[str]:
    """Tables the pipeline's schemas say hold data but the warehouse lacks.

    They are forgotten by the schemas, and the schemas' stored versions are deleted from the
    dataset's ``_dlt_version`` (what dlt's own ``drop`` does): dlt creates a table only when it
    meets a schema version it has not stored, so the next load compares the schema with the
    warehouse again and creates what is missing."""
    from dlt.common.schema.utils import has_table_seen_data

    seen: dict[str, list[str]] = {}
    for name in pipeline.schema_names:
        schema = pipeline.schemas[name]
        seen[name] = [t["name"] for t in schema.data_tables() if has_table_seen_data(t)]
    wanted = {t for tables in seen.values() for t in tables}
    if not wanted:
        return []
    from stacks_core.sql import connect, qualified

    staging = f"{dataset}_staging"
    with connect(warehouse) as conn:
        present = {t for _, t in conn.tables(dataset)}
        staged = {t for _, t in conn.tables(staging)}
        gone = sorted(wanted - present)
        for name, tables in seen.items():
            drop = [t for t in tables if t in gone]
            if not drop:
                continue
            schema = pipeline.schemas[name]
            # the staging dataset keeps its own schema versions: forgotten too, so dlt creates
            # the staging copies again (a merge or a replace loads through them)
            for where, holds in ((dataset, present), (staging, staged)):
                if schema.version_table_name in holds:
                    conn.execute(
                        f"delete from {qualified(where, schema.version_table_name)} "
                        "where schema_name = ?",
                        [name],
                    )
            schema.drop_tables(drop)
            pipeline.schemas.save_schema(schema)
        # the staging copy too, or it keeps the old column types dlt then loads through
        for name in gone:
            conn.execute(f"drop table if exists {qualified(staging, name)}")
    return gone
