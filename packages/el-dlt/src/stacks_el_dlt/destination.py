"""The contract's :data:`~stacks_contract.warehouse.Warehouse` as a dlt destination.

Credentials go to dlt in code (never through files or the environment), so nothing on disk holds a
password. The contract offers Postgres and DuckDB; both are tested here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

#: environment variable naming the folder that holds dlt's per-warehouse working directories
PIPELINES_DIR_ENV = "STACKS_DLT_DIR"

#: loader file format per engine, chosen by measurement (issue 6 / bench/README.md):
#: Postgres: Parquet through ADBC (adbc-driver-postgresql) beat INSERT VALUES by ~5x and CSV/COPY
#: by ~2x; DuckDB: Parquet is what DuckDB reads natively.
DEFAULT_FILE_FORMAT: dict[str, str] = {
    "postgres": "parquet",
    "duckdb": "parquet",
}


def dlt_destination(warehouse: Warehouse, file_format: str | None = None) -> Any:
    """A dlt destination object writing to ``warehouse``.

    ``file_format`` (default: :data:`DEFAULT_FILE_FORMAT` for the engine) becomes the
    destination's preferred loader format, so a plain ``pipeline.run(source)`` (as dagster-dlt
    calls it) takes the same fast path as :meth:`DltStep.run`.
    """
    from dlt import destinations

    fmt = file_format or DEFAULT_FILE_FORMAT[warehouse.kind]

    if isinstance(warehouse, PostgresWarehouse):
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        _stream_parquet_per_row_group()

        _render_url_without_sqlalchemy(PostgresCredentials)
        creds = PostgresCredentials()
        creds.database = warehouse.database
        creds.username = warehouse.user
        # dlt insists on a password field even when the server trusts the connection
        creds.password = warehouse.password.get_secret_value() or "unused"
        creds.host = warehouse.host
        creds.port = warehouse.port
        creds.connect_timeout = 10
        # sslmode, sslrootcert, options, application_name, ...: libpq reads them from the query
        creds.query = dict(warehouse.params) or None
        # no UNIQUE index on every _dlt_id: ~20% of a 300k-row dict load here, and it guards
        # nothing stacks relies on (merge dedups on the primary key; half-loaded packages are
        # never resumed, see DltStep.dlt_pipeline)
        return destinations.postgres(
            credentials=creds,
            create_indexes=False,
            preferred_loader_file_format=fmt,
            type_mapper=_postgres_type_mapper(),
        )
    if isinstance(warehouse, DuckDBWarehouse):
        warehouse.path.parent.mkdir(parents=True, exist_ok=True)
        return destinations.duckdb(
            credentials=str(warehouse.path), preferred_loader_file_format=fmt
        )
    raise ConfigError(f"el-dlt cannot write to a {warehouse.kind} warehouse.")


_PG_MAPPER: Any = None


def _postgres_type_mapper() -> Any:
    """dlt's Postgres type mapper, plus: a column carrying :data:`~stacks_el_dlt.names.PG_TYPE`
    is created with that type (its Postgres source's own: ``jsonb``, ``integer[]``,
    ``character(20)``), through dlt's own ``type_mapper`` capability."""
    global _PG_MAPPER
    if _PG_MAPPER is None:
        from dlt.destinations.impl.postgres.factory import PostgresTypeMapper

        from stacks_el_dlt.names import PG_TYPE

        class SourceTypesMapper(PostgresTypeMapper):
            def to_destination_type(self, column: Any, table: Any) -> str:
                kept = column.get(PG_TYPE)
                return str(kept) if kept else super().to_destination_type(column, table)

        _PG_MAPPER = SourceTypesMapper
    return _PG_MAPPER


def _render_url_without_sqlalchemy(credentials_class: type) -> None:
    """Make dlt render ``credentials_class``'s connection URL with its own SQLAlchemy-free shim.

    dlt renders Postgres credentials as a URL for every connection (psycopg2's DSN, ADBC's URI),
    with SQLAlchemy's ``URL`` whenever SQLAlchemy is importable: importing it was ~0.5 s of a new
    process's fixed cost before the first row (bench ``el_process_fixed_s``). dlt's shim renders
    the same URL (dlt uses it when SQLAlchemy is absent). Process-wide, like dlt's own config.
    """
    if getattr(credentials_class, "_stacks_shim_url", False):
        return
    from dlt.common.configuration.utils import serialize_value
    from dlt.common.libs.sql_alchemy_shims import URL

    def to_url(self: Any) -> Any:
        query: dict[str, Any] = {
            k: None if v is None else serialize_value(v) for k, v in self.get_query().items()
        }
        return URL.create(
            self.drivername,
            self.username,
            self.password,
            self.host,
            self.port,
            self.database,
            query,
        )

    credentials_class.to_url = to_url  # type: ignore[attr-defined]
    credentials_class._stacks_shim_url = True  # type: ignore[attr-defined]


def _stream_parquet_per_row_group() -> None:
    """Make dlt's ADBC Parquet job COPY one row group at a time (dlt's switch, used for MSSQL).

    Measured here: streaming the whole file through one ``adbc_ingest`` held memory in proportion
    to the file (peak RSS 490 MB at 1M rows, 850 MB at 3M); per row group it stays ~365 MB at
    both, in the same time within noise. Process-wide, like dlt's own config.
    """
    try:
        from dlt.destinations.impl.postgres.postgres import PostgresParquetCopyJob
    except ImportError:  # pragma: no cover - a dlt without the ADBC job
        return
    if hasattr(PostgresParquetCopyJob, "_ingest_per_rowgroup"):
        PostgresParquetCopyJob._ingest_per_rowgroup = True


def default_file_format(warehouse: Warehouse) -> str:
    return DEFAULT_FILE_FORMAT[warehouse.kind]


def warehouse_identity(warehouse: Warehouse) -> str:
    """A stable, password-free string naming where data lands (engine, location, schema)."""
    if isinstance(warehouse, PostgresWarehouse):
        where = f"{warehouse.host}:{warehouse.port}/{warehouse.database}"
    else:
        where = str(warehouse.path)
    return f"{warehouse.kind}:{where}?schema={warehouse.schema_name}"


def pipelines_dir(warehouse: Warehouse, base: str | os.PathLike[str] | None = None) -> Path:
    """dlt's working directory for ``warehouse``: one folder per warehouse and schema.

    Two warehouses never share local state (cursors, pending load packages, schemas), so a step
    pointed at a fresh warehouse restores its state from that warehouse instead of trusting a
    cursor that belongs to another one. Base folder: ``base``, else ``$STACKS_DLT_DIR``, else
    ``~/.local/share/stacks/dlt``.
    """
    root = base or os.environ.get(PIPELINES_DIR_ENV)
    if root is None:
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = Path(data_home) / "stacks" / "dlt"
    digest = hashlib.sha1(warehouse_identity(warehouse).encode()).hexdigest()[:16]
    return Path(root) / f"{warehouse.kind}-{digest}"
