"""Airbyte loads the shop API, dbt (through Cosmos) models it, Airflow runs both as one DAG.

The EL step talks to Airbyte's public API: to your Airbyte when ``AIRBYTE_SERVER_URL`` is set,
else to el-airbyte's local engine, which the stack's session starts for the run with one
connection (the demo shop's declarative manifest into the run's warehouse). The dbt project is
the one every shop stack shares (``stacks_demo.SHOP_DBT_PROJECT``): Airbyte writes the
shop's raw contract as el-dlt does, so swapping the EL tool touches no model.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stacks_contract.models import CronTrigger, StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import Warehouse
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.stack import ShopStack, marts_query_hints, set_env

if TYPE_CHECKING:
    from stacks_el_airbyte.local.model import ConnectionConfig

NAME = "airflow-airbyte-dbt"
DBT_PROJECT_DIR = SHOP_DBT_PROJECT
MARTS_SCHEMA = "analytics"
SHOP_SEED = 42
#: where the shop is; the session starts a shop of its own unless it is set (as every shop stack)
SHOP_URL_ENV = "STACKS_SHOP_URL"
#: your Airbyte's public API (then the session starts no local engine) and the connection to sync
SERVER_ENV = "AIRBYTE_SERVER_URL"
CONNECTION_ENV = "AIRBYTE_CONNECTION_ID"
#: the local engine's shop connection: the same id in every run, so jobs and state line up
SHOP_CONNECTION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "stacks:airflow-airbyte-dbt:shop"))
STREAMS = ("customers", "products", "orders", "payments")
#: the baseline: every day at 06:00 UTC (the DAG's schedule)
DAILY = CronTrigger(cron="0 6 * * *")


class AirflowAirbyteDbtStack(ShopStack):
    """Airbyte (shop API -> raw) -> dbt (staging -> marts), one Airflow DAG run per run."""

    name = NAME
    description = (
        "Airbyte from the demo shop API -> dbt (staging, marts) through Cosmos -> Airflow."
    )

    def __init__(self) -> None:
        super().__init__()
        self.engine_url: str | None = None

    def make_orchestrator(self) -> Orchestrator:
        from stacks_orch_airflow import AirflowOrchestrator

        return AirflowOrchestrator()

    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        return build_spec(warehouse)

    @contextlib.contextmanager
    def session(self, warehouse: Warehouse) -> Iterator[None]:
        """The demo shop unless ``STACKS_SHOP_URL`` is set; the local Airbyte engine unless
        ``AIRBYTE_SERVER_URL`` is set. Stops what it started."""
        from stacks_demo.shop import shop_running

        with contextlib.ExitStack() as stack:
            url = stack.enter_context(shop_running(SHOP_URL_ENV, seed=SHOP_SEED))
            if not os.environ.get(SERVER_ENV):
                from stacks_el_airbyte.local import LocalEngine

                engine = stack.enter_context(LocalEngine([shop_connection(warehouse, url)]))
                self.engine_url = engine.url
                print(
                    f"Airbyte (local engine): public API at {engine.url} while the run lasts",
                    file=sys.stderr,
                    flush=True,
                )
                for key, value in engine.env().items():
                    stack.enter_context(set_env(key, value))
            yield

    def hints(self, warehouse: Warehouse) -> list[str]:
        lines = marts_query_hints(warehouse, MARTS_SCHEMA)
        lines.append(
            f"Raw tables (Airbyte's layout, _airbyte_* columns): {warehouse.schema_name}."
            "customers, .products, .orders (lines in orders.items), .payments; "
            "Airbyte's sync state: airbyte_internal"
        )
        lines.append(
            f"Your own Airbyte: {SERVER_ENV}=https://host/api/public/v1 {CONNECTION_ENV}=<uuid> "
            f"AIRBYTE_CLIENT_ID=... AIRBYTE_CLIENT_SECRET=... uv run stacks run {NAME}"
        )
        return lines


def shop_connection(warehouse: Warehouse, shop_url: str) -> ConnectionConfig:
    """The local engine's connection: the shop manifest (incremental + deduped on ``id`` by
    ``updated_at``) into ``warehouse``'s raw schema."""
    from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig
    from stacks_el_airbyte.manifests import SHOP_MANIFEST

    return ConnectionConfig(
        connection_id=SHOP_CONNECTION_ID,
        name="shop -> warehouse",
        source_manifest=SHOP_MANIFEST,
        source_config={"url": shop_url},
        streams=tuple(StreamConfig(s, "incremental_deduped_history") for s in STREAMS),
        destination=warehouse,
        schedule_cron=DAILY.cron,
    )


def build_spec(warehouse: Warehouse) -> StackSpec:
    """The steps, bound to ``warehouse`` (tool imports happen here, not at import time)."""
    from stacks_el_airbyte import AirbyteStep
    from stacks_transform_dbt import DbtTransform

    shop = AirbyteStep(
        "shop",
        connection_id=os.environ.get(CONNECTION_ENV) or SHOP_CONNECTION_ID,
        streams=STREAMS,
        schema=warehouse.schema_name,
    )
    return StackSpec(
        name=NAME,
        el_steps=(shop,),
        transform=DbtTransform(DBT_PROJECT_DIR, name="dbt", schema=MARTS_SCHEMA),
        triggers=(DAILY,),
        description=AirflowAirbyteDbtStack.description,
    )


def build_stack() -> AirflowAirbyteDbtStack:
    """Entry point (``stacks.stacks``): cheap, imports no tool."""
    return AirflowAirbyteDbtStack()
