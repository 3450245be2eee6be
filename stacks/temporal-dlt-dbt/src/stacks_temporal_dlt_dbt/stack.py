"""dlt loads the shop API, dbt models it, a Temporal workflow runs both durably."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from stacks_contract.models import CronTrigger, StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import Warehouse
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.stack import ShopStack, marts_query_hints, set_env
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

NAME = "temporal-dlt-dbt"
DBT_PROJECT_DIR = SHOP_DBT_PROJECT
MARTS_SCHEMA = "analytics"
SHOP_SEED = 42
#: the baseline: every day at 06:00 UTC (a Temporal Schedule, overlapping runs skipped)
DAILY = CronTrigger(cron="0 6 * * *")
#: where the dev server keeps its state when the stack starts one (relative to the cwd)
TEMPORAL_STATE = Path(".stacks") / "temporal.db"
ADDRESS_ENV = "TEMPORAL_ADDRESS"


class TemporalDltDbtStack(ShopStack):
    """dlt (shop API -> raw) -> dbt (staging -> marts), one Temporal workflow per run.

    Its session starts the demo shop unless ``STACKS_SHOP_URL`` is set, and a Temporal dev
    server unless ``TEMPORAL_ADDRESS`` is set; it stops what it started.
    """

    name = NAME
    description = (
        "dlt from the demo shop API -> dbt (staging, marts) -> a durable Temporal workflow."
    )

    def __init__(self) -> None:
        super().__init__()
        self.ui_url: str | None = None

    def make_orchestrator(self) -> Orchestrator:
        from stacks_orch_temporal import TemporalOrchestrator

        return TemporalOrchestrator(state_file=TEMPORAL_STATE)

    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        return build_spec(warehouse)

    @contextlib.contextmanager
    def session(self, warehouse: Warehouse) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            from stacks_demo.shop import shop_running

            stack.enter_context(shop_running(SHOP_URL_ENV, seed=SHOP_SEED))
            if not os.environ.get(ADDRESS_ENV):
                from stacks_orch_temporal import DevServer

                dev = stack.enter_context(DevServer(db_file=TEMPORAL_STATE.absolute()))
                self.ui_url = dev.ui_url
                print(
                    f"Temporal dev server at {dev.address}; Web UI at {dev.ui_url} while it runs",
                    file=sys.stderr,
                    flush=True,
                )
                stack.enter_context(set_env(ADDRESS_ENV, dev.address))
            yield

    def hints(self, warehouse: Warehouse) -> list[str]:
        lines = marts_query_hints(warehouse, MARTS_SCHEMA)
        address = os.environ.get(ADDRESS_ENV)
        if address:
            lines.append(f"Temporal: workflows on {address}, task queue stacks-{NAME}-<run id>")
        else:
            lines.append(
                f"Temporal Web UI: {self.ui_url or 'http://127.0.0.1:<port>'} served this run and "
                f"has stopped; browse the history: uv run temporal server start-dev "
                f"--db-filename {TEMPORAL_STATE} then open http://localhost:8233"
            )
        lines.append(
            f"Own worker: TEMPORAL_ADDRESS=host:7233 uv run python -m stacks_orch_temporal "
            f"worker --stack {NAME}"
        )
        return lines


def build_spec(warehouse: Warehouse) -> StackSpec:
    """The steps, bound to ``warehouse`` (tool imports happen here, not at import time)."""
    from stacks_el_dlt.sources.demo_shop import ShopStep
    from stacks_transform_dbt import DbtTransform

    return StackSpec(
        name=NAME,
        el_steps=(ShopStep(),),
        transform=DbtTransform(DBT_PROJECT_DIR, name="dbt", schema=MARTS_SCHEMA),
        triggers=(DAILY,),
        description=TemporalDltDbtStack.description,
    )


def build_stack() -> TemporalDltDbtStack:
    """Entry point (``stacks.stacks``): cheap, imports no tool."""
    return TemporalDltDbtStack()
