"""The EL conformance suite for AirbyteStep, through the local engine running the real shop
manifest (airbyte-cdk) into Postgres and DuckDB: 1 run == 3 runs, a changed row updated not
duplicated, a no-op sync writes 0 rows, rows reported == rows in the warehouse, a full refresh
reloads exactly, and a run SIGKILLed mid-sync converges once its job is cancelled and re-run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stacks_contract.models import TableRef
from stacks_contract.ports import ELStep
from stacks_contract.warehouse import Warehouse
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig
from stacks_el_airbyte.local.server import LocalEngine
from stacks_el_airbyte.manifests import SHOP_MANIFEST
from stacks_testing.demo.shop import ShopServer
from stacks_testing.suites.el import BaseELSuite
from stacks_testing.suites.harness import ELHarness, RowChange

CONNECTION = "6a1f3e0c-5b7e-4c55-9d1e-3f0b2a7c9e11"
STREAMS = ("customers", "products", "orders", "payments")
_CONNECTION_ENV = "STACKS_TEST_AIRBYTE_CONNECTION"
_SCHEMA_ENV = "STACKS_TEST_AIRBYTE_SCHEMA"


def make_shop_step() -> ELStep:
    """The step in a fresh interpreter (the SIGKILL test): the engine's URL and credentials
    come from the environment, as for a user."""
    return AirbyteStep(
        "shop",
        os.environ[_CONNECTION_ENV],
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
            "shop", CONNECTION, STREAMS, schema=self.schema, env=self.engine.env(),
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
        return {**self.engine.env(), _CONNECTION_ENV: CONNECTION, _SCHEMA_ENV: self.schema}


class TestAirbyteLocalConformance(BaseELSuite):
    kill_points = 2

    @pytest.fixture
    def el_harness(self, warehouse: Warehouse) -> Iterator[ELHarness]:
        # small pages: a sync commits many batches, so a SIGKILL lands between two of them
        with ShopServer(seed=7, customers=300, orders=2000) as shop:
            connection = ConnectionConfig(
                connection_id=CONNECTION,
                name="shop",
                source_manifest=SHOP_MANIFEST,
                source_config={"url": shop.url, "page_size": 100},
                streams=tuple(StreamConfig(s, "incremental_deduped_history") for s in STREAMS),
                destination=warehouse,
            )
            with LocalEngine([connection]) as engine:
                yield AirbyteShopHarness(shop, engine, warehouse.schema_name)
