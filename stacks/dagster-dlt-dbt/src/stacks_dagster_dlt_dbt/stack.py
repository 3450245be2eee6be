"""The recommended stack: dlt loads the shop API, dbt models it, Dagster orchestrates."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from stacks_contract.models import CronTrigger, Freshness, SourceChangeTrigger, StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.stack import ShopStack, marts_query_hints
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

NAME = "dagster-dlt-dbt"
DBT_PROJECT_DIR = SHOP_DBT_PROJECT
#: models land here (staging views in ``analytics_staging``)
MARTS_SCHEMA = "analytics"
SHOP_SEED = 42
#: the baseline: every day at 06:00 UTC; the source-change sensor catches changes in between
DAILY = CronTrigger(cron="0 6 * * *")
#: raw tables older than this fail their freshness check (a day plus slack for the schedule)
MAX_LAG = timedelta(hours=26)


class DagsterDltDbtStack(ShopStack):
    """dlt (shop API -> raw) -> dbt (staging -> marts) -> Dagster.

    One orchestrator per stack object and one spec per warehouse (:class:`ShopStack`), so
    repeated runs in one process (``stacks check``) reuse Dagster's definitions and dbt's parsed
    manifest.
    """

    name = NAME
    description = "dlt from the demo shop API -> dbt (staging, marts) -> Dagster assets."

    def make_orchestrator(self) -> Orchestrator:
        from stacks_orch_dagster import DagsterOrchestrator

        return DagsterOrchestrator()

    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        return build_spec(warehouse)

    @contextlib.contextmanager
    def session(self, warehouse: Warehouse) -> Iterator[None]:
        """Start the demo shop unless ``STACKS_SHOP_URL`` points at one already."""
        from stacks_demo.shop import shop_running

        with shop_running(SHOP_URL_ENV, seed=SHOP_SEED):
            yield

    def hints(self, warehouse: Warehouse) -> list[str]:
        lines = marts_query_hints(warehouse, MARTS_SCHEMA)
        lines.append(
            f"Raw tables: {warehouse.schema_name}.customers, .products, .orders (lines in "
            "orders.items), .payments; models: analytics_staging.stg_*, "
            f"{MARTS_SCHEMA}.fct_orders, .dim_customers, .daily_revenue"
        )
        # the same warehouse, the demo shop and the instance CLI runs record into; Ctrl-C stops it
        ui = f"uv run stacks ui {NAME}"
        if isinstance(warehouse, PostgresWarehouse):
            ui += " --warehouse ..."  # the URL given to this run (no password in a hint)
        lines.append(f"Open the Dagster UI: {ui}")
        return lines


def build_spec(warehouse: Warehouse) -> StackSpec:
    """The steps, bound to ``warehouse`` (tool imports happen here, not at import time)."""
    from stacks_el_dlt.sources.demo_shop import ShopStep
    from stacks_transform_dbt import DbtTransform

    shop = ShopStep()
    dbt = DbtTransform(DBT_PROJECT_DIR, name="dbt", schema=MARTS_SCHEMA)
    return StackSpec(
        name=NAME,
        el_steps=(shop,),
        transform=dbt,
        triggers=(DAILY, SourceChangeTrigger(step=shop.name, poll_seconds=60)),
        freshness=Freshness(max_lag=MAX_LAG),
        description=DagsterDltDbtStack.description,
    )


def build_stack() -> DagsterDltDbtStack:
    """Entry point (``stacks.stacks``): cheap, imports no tool."""
    return DagsterDltDbtStack()
