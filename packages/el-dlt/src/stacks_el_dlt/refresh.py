"""Full refresh, and recovery when raw tables were dropped behind a step's back.

Both end in dlt's ``refresh="drop_data"`` for the step's own source: its tables are truncated
(not dropped: a dbt view over a raw table would make ``DROP TABLE`` fail on Postgres, and other
steps' tables in a shared dataset are never touched) and its resources' state (incremental
cursors, e.g. the files source's ``modification_date``) is reset, so the run re-reads everything
the source holds. Other steps keep their tables and cursors: every step is its own dlt pipeline
with its own source schema.

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

#: the dlt refresh mode of a full refresh (see the module docstring for why not drop_resources)
REFRESH_MODE = "drop_data"

__all__ = ["REFRESH_MODE", "missing_tables", "prepare_run"]


def prepare_run(
    step_name: str,
    pipeline: Any,
    request: RunRequest,
    warehouse: Warehouse,
    dataset: str,
    report: Reporter = silent,
) -> str | None:
    """Sync ``pipeline`` with the warehouse, then the dlt refresh mode this run needs (or None).

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
        return None
    _keep_quarantine(pipeline)
    return REFRESH_MODE


def _keep_quarantine(pipeline: Any) -> None:
    # dlt truncates every table of the refreshed resources that has seen data; the quarantine
    # table is a variant of each resource but shared by every step of the dataset: keep it
    for name in pipeline.schema_names:
        schema = pipeline.schemas[name]
        table = schema.tables.get(QUARANTINE_TABLE)
        if table and table.get("x-normalizer", {}).pop("seen-data", None) is not None:
            pipeline.schemas.save_schema(schema)


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

    with connect(warehouse) as conn:
        present = {t for _, t in conn.tables(dataset)}
        gone = sorted(wanted - present)
        for name, tables in seen.items():
            drop = [t for t in tables if t in gone]
            if not drop:
                continue
            schema = pipeline.schemas[name]
            if schema.version_table_name in present:
                conn.execute(
                    f"delete from {qualified(dataset, schema.version_table_name)} "
                    "where schema_name = ?",
                    [name],
                )
            schema.drop_tables(drop)
            pipeline.schemas.save_schema(schema)
        # the merge staging copy too, or it keeps the old column types dlt then loads through
        staging = f"{dataset}_staging"
        for name in gone:
            conn.execute(f"drop table if exists {qualified(staging, name)}")
    return gone
