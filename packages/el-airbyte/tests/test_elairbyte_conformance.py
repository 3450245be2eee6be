"""The EL conformance suite for AirbyteStep, through the local engine running the real shop
manifest (airbyte-cdk) into Postgres and DuckDB: 1 run == 3 runs, a changed row updated not
duplicated, a no-op sync writes 0 rows, rows reported == rows in the warehouse, a full refresh
reloads exactly, and a run SIGKILLed mid-sync converges once its job is cancelled and re-run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stacks_contract.models import TableRef
from stacks_contract.ports import ELStep
from stacks_contract.warehouse import Warehouse
from stacks_demo.shop import ShopServer
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig
from stacks_el_airbyte.local.server import LocalEngine
from stacks_el_airbyte.manifests import SHOP_MANIFEST
from stacks_testing.suites.el import BaseELSuite
from stacks_testing.suites.harness import ELHarness, RowChange

STREAMS = ("customers", "products", "orders", "payments")
_SCHEMA_ENV = "STACKS_TEST_AIRBYTE_SCHEMA"


def connection_for(warehouse: Warehouse) -> str:
    """One connection per warehouse (Airbyte's destination belongs to the connection): an id
    both this process and the SIGKILL test's subprocesses derive from the warehouse."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stacks-test:{warehouse.redacted_url()}"))


def shop_connection(shop_url: str, warehouse: Warehouse) -> ConnectionConfig:
    return ConnectionConfig(
        connection_id=connection_for(warehouse),
        name=f"shop -> {warehouse.redacted_url()}",
        source_manifest=SHOP_MANIFEST,
        source_config={"url": shop_url, "page_size": 100},
        streams=tuple(StreamConfig(s, "incremental_deduped_history") for s in STREAMS),
        destination=warehouse,
    )


def make_shop_step() -> ELStep:
    """The step in a fresh interpreter (the SIGKILL test): the engine's URL and credentials
    come from the environment, as for a user."""
    return AirbyteStep(
        "shop",
        connection_for,
        STREAMS,
        schema=os.environ[_SCHEMA_ENV],
        poll_interval_s=0.2,
    )


class AirbyteShopHarness(ELHarness):
    def __init__(self, shop: ShopServer, engine: LocalEngine, schema: str) -> None:
        self.shop, self.engine, self.schema = shop, engine, schema
        self.changes = 0

    def make_step(self) -> ELStep:
        return AirbyteStep(
            "shop", connection_for, STREAMS, schema=self.schema, env=self.engine.env(),
            poll_interval_s=0.2,
        )  # fmt: skip

    def change_one_row(self) -> RowChange:
        # a cursor past every loaded row, not in the future (the cursor's window ends now)
        self.changes += 1
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60 - self.changes)
        row = self.shop.state.update_row(
            "customers",
            5,
            name=f"Renamed {self.changes}",
            updated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return RowChange(TableRef(self.schema, "customers"), {"id": 5}, "name", row["name"])

    def step_factory(self) -> str:
        return f"{Path(__file__).resolve()}:make_shop_step"

    def subprocess_env(self) -> dict[str, str]:
        return {**self.engine.env(), _SCHEMA_ENV: self.schema}


class TestAirbyteLocalConformance(BaseELSuite):
    kill_points = 2

    @pytest.fixture
    def el_harness(self, warehouse: Warehouse) -> Iterator[ELHarness]:
        # small pages: a sync commits many batches, so a SIGKILL lands between two of them
        with ShopServer(seed=7, customers=300, orders=2000) as shop:
            connection = shop_connection(shop.url, warehouse)
            with LocalEngine([connection]) as engine:
                yield AirbyteShopHarness(shop, engine, warehouse.schema_name)

    @pytest.fixture
    def warehouse_factory(
        self, warehouse_factory: Callable[[], Warehouse], el_harness: AirbyteShopHarness
    ) -> Callable[[], Warehouse]:
        # every warehouse the suite makes (the interrupted run's reference) gets its connection
        def make() -> Warehouse:
            made = warehouse_factory()
            el_harness.engine.add_connection(shop_connection(el_harness.shop.url, made))
            return made

        return make
