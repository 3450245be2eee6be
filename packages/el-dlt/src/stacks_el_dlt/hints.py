"""The dlt hints stacks adds to a source: the quarantine table, stamp propagation, scd2 versions.

Everything here is a dlt hint or normalizer setting, so a source prepared by
:meth:`~stacks_el_dlt.step.DltStep.dlt_source` behaves the same under a plain ``pipeline.run``.
"""

from __future__ import annotations

from typing import Any

from stacks_el_dlt.names import LOADED_AT, QUARANTINE_TABLE, ROW_HASH, RUN_ID

__all__ = [
    "QUARANTINE_COLUMNS",
    "declare_quarantine",
    "declared_columns",
    "pin_file_format",
    "propagate_stamps",
    "retarget",
    "version_scd2_rows",
]

QUARANTINE_COLUMNS: dict[str, dict[str, Any]] = {
    "quarantine_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "step": {"data_type": "text", "nullable": False},
    "table_name": {"data_type": "text", "nullable": False},
    "column_name": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "payload": {"data_type": "text", "nullable": False},
    RUN_ID: {"data_type": "text", "nullable": False},
    LOADED_AT: {"data_type": "timestamp", "nullable": False},
}


def version_scd2_rows(resource: Any) -> bool:
    """For an scd2 resource without its own row version column, use :data:`ROW_HASH`.

    Returns whether the stamp step must compute it. (Arrow tables are not hashed here: give such
    resources a ``row_version_column_name`` of your own.)
    """
    wd = resource.write_disposition
    if not isinstance(wd, dict) or wd.get("strategy") != "scd2":
        return False
    if wd.get("row_version_column_name"):
        return False
    resource.apply_hints(write_disposition={**wd, "row_version_column_name": ROW_HASH})
    return True


def declare_quarantine(resource: Any) -> None:
    """Register ``_stacks_quarantine`` as a table variant of ``resource`` (merge on its id).

    dlt seeds a variant with the resource's own hints; the first call empties columns, nested
    hints and merge key so the quarantine table has its own shape only.
    """
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        columns={},
        nested_hints={},
        merge_key="",
        create_table_variant=True,
    )
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition="merge",
        primary_key="quarantine_id",
        columns=[{"name": k, **v} for k, v in QUARANTINE_COLUMNS.items()],
        create_table_variant=True,
    )


def propagate_stamps(schema: Any) -> None:
    """Make dlt copy the stamps from each root row into every child row it unnests."""
    from dlt.common.normalizers.json.relational import DataItemNormalizer
    from dlt.common.schema.typing import TColumnName

    run_id, loaded_at = TColumnName(RUN_ID), TColumnName(LOADED_AT)
    DataItemNormalizer.update_normalizer_config(
        schema, {"propagation": {"root": {run_id: run_id, loaded_at: loaded_at}}}
    )


def declared_columns(resource: Any, naming: Any) -> dict[str, Any]:
    """The resource's column hints, primary key included (``primary_key=`` is its own hint)."""
    try:
        # static hints resolve without an item; dynamic ones (callables) raise here
        columns = dict(resource.compute_table_schema().get("columns") or {})
    except Exception:
        declared = resource.columns
        columns = dict(declared) if isinstance(declared, dict) else {}
    return {naming.normalize_identifier(k): v for k, v in columns.items()}


def pin_file_format(resource: Any, file_format: str | None) -> None:
    """Name the loader file format on a table with JSON columns: dlt then types them ``json``
    on Postgres, which Parquet through ADBC can COPY into (``jsonb`` fails there with
    "unsupported jsonb version number"); on DuckDB the type is JSON either way."""
    if not resource.compute_table_schema().get("file_format"):
        resource.apply_hints(file_format=file_format or "parquet")


def retarget(resource: Any, naming: Any, changes: Any) -> None:
    """Declare each changed column with the type the warehouse holds after the run
    (``change.target``: widened, or kept), so dlt's stored schema describes the warehouse."""
    columns = resource.columns
    if not isinstance(columns, dict):
        return
    by_name = {naming.normalize_identifier(k): k for k in columns}
    for change in changes:
        hint = columns.get(by_name.get(change.column, change.column))
        if hint is None:
            continue
        for key, value in change.target.items():
            if value is None:
                hint.pop(key, None)
            else:
                hint[key] = value
