"""Fixtures: a local engine over a TEST-ONLY executor that writes rows with plain SQL; for the
executor's own tests, a live demo shop and connections to it (``shop``, ``connect_shop``).

``PlainSqlTestExecutor`` is not Airbyte's destination layout writer (that is
``stacks_el_airbyte.local.executor``): it writes just enough of it (an ``id`` and a ``name``,
plus the ``_airbyte_*`` columns with ``sync_id``) for the API and step tests.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect, qualified, quote_ident
from stacks_demo.shop import ShopServer
from stacks_el_airbyte.local.model import (
    ConnectionConfig,
    JobContext,
    StreamConfig,
    SyncCancelled,
    SyncMode,
    SyncOutcome,
)
from stacks_el_airbyte.local.server import LocalEngine
from stacks_el_airbyte.manifests import SHOP_MANIFEST
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()

# the Airflow provider's hook test: Airflow must not create ~/airflow (set before any import)
if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="stacks-el-airbyte-airflow-")
    os.environ["AIRFLOW_HOME"] = _home
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
for _key, _value in {
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
}.items():
    os.environ.setdefault(_key, _value)


class PlainSqlTestExecutor:
    """TEST ONLY. Source rows live in ``source[stream]`` (dicts with ``id`` and ``name``); a sync
    writes the rows new or changed since the last sync (a refresh: all of them), one row per id."""

    def __init__(self, source: dict[str, list[dict[str, Any]]]) -> None:
        self.source = source
        self.synced: dict[tuple[str, str, int], str] = {}

    def run(self, connection: ConnectionConfig, job: JobContext) -> SyncOutcome:
        outcome = SyncOutcome()
        schema = connection.schema
        with connect(connection.destination) as conn:
            json_type = "jsonb" if conn.dialect == "postgres" else "json"
            conn.execute(f"create schema if not exists {quote_ident(schema)}")
            for stream in connection.streams:
                if job.cancelled.is_set():
                    raise SyncCancelled()
                table = qualified(schema, connection.table(stream.name))
                conn.execute(
                    f"create table if not exists {table} (id bigint, name varchar, "
                    "_airbyte_raw_id varchar, _airbyte_extracted_at timestamptz, "
                    f"_airbyte_meta {json_type}, _airbyte_generation_id bigint)"
                )
                key = (connection.connection_id, stream.name)
                rows = [
                    r
                    for r in self.source.get(stream.name, [])
                    if job.job_type == "refresh" or self.synced.get((*key, r["id"])) != r["name"]
                ]
                if job.job_type == "refresh":
                    conn.execute(f"delete from {table}")
                meta = json.dumps({"sync_id": job.job_id, "changes": []})
                for r in rows:
                    conn.execute(f"delete from {table} where id = ?", [r["id"]])
                    conn.execute(
                        f"insert into {table} values (?, ?, ?, current_timestamp, ?, 0)",
                        [r["id"], r["name"], str(uuid.uuid4()), meta],
                    )
                    self.synced[(*key, r["id"])] = r["name"]
                outcome.streams[stream.name] = len(rows)
                outcome.records_synced += len(rows)
                outcome.bytes_synced += sum(len(json.dumps(r)) for r in rows)
        return outcome


def make_connection(
    warehouse: Warehouse,
    *,
    name: str = "shop",
    streams: tuple[str, ...] = ("customers",),
    workspace_id: str = "00000000-0000-0000-0000-000000000000",
    schema: str = "raw",
) -> ConnectionConfig:
    return ConnectionConfig(
        connection_id=str(uuid.uuid4()),
        name=name,
        source_manifest=Path("unused-by-the-test-executor.yaml"),
        source_config={},
        streams=tuple(StreamConfig(s, "incremental_deduped_history", ("id",)) for s in streams),
        destination=warehouse,
        namespace=schema,
        workspace_id=workspace_id,
    )


def customers(n: int, tag: str = "v1") -> list[dict[str, Any]]:
    return [{"id": i, "name": f"customer {i} {tag}"} for i in range(1, n + 1)]


@pytest.fixture
def source() -> dict[str, list[dict[str, Any]]]:
    return {"customers": customers(5)}


@pytest.fixture
def engine_factory(
    source: dict[str, list[dict[str, Any]]],
) -> Iterator[Callable[..., LocalEngine]]:
    started: list[LocalEngine] = []

    def make(connections: list[ConnectionConfig], **kw: Any) -> LocalEngine:
        kw.setdefault("retry_wait_s", 0.05)
        engine = LocalEngine(connections, PlainSqlTestExecutor(source), **kw).start()
        started.append(engine)
        return engine

    yield make
    for engine in started:
        engine.stop()


@pytest.fixture(name="make_connection")
def _make_connection() -> Callable[..., ConnectionConfig]:
    return make_connection


@pytest.fixture
def duck_connection(duckdb_warehouse: Warehouse) -> ConnectionConfig:
    return make_connection(duckdb_warehouse)


@pytest.fixture
def engine(
    engine_factory: Callable[..., LocalEngine], duck_connection: ConnectionConfig
) -> LocalEngine:
    return engine_factory([duck_connection])


SHOP_STREAMS = ("customers", "products", "orders", "payments")


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    with ShopServer(seed=7) as server:
        yield server


@pytest.fixture
def connect_shop(shop: ShopServer, warehouse: Warehouse) -> Callable[..., ConnectionConfig]:
    """``connect_shop(mode, page_size=, to=)``: a connection from the test's shop to its
    warehouse (or another one), every shop stream in ``mode``."""

    def make(
        mode: SyncMode = "incremental_deduped_history",
        *,
        page_size: int = 1000,
        to: Warehouse | None = None,
    ) -> ConnectionConfig:
        return ConnectionConfig(
            connection_id="conn-shop",
            name="shop",
            source_manifest=SHOP_MANIFEST,
            source_config={"url": shop.url, "page_size": page_size},
            streams=tuple(StreamConfig(name, mode) for name in SHOP_STREAMS),
            destination=to or warehouse,
        )

    return make
