"""The swap matrix's cells: the demo shop through {el-dlt, el-airbyte} x transform-dbt x {Local,
Dagster, Airflow, Temporal} on one warehouse, each built the way a user composes a stack: one
constructor for the EL step, one for the orchestrator, the same dbt project files everywhere.

A cell runs four times on a fresh warehouse and a shop of its own (every shop starts from the
same seed): runs 1-3 on unchanged data (three runs must leave what one run left), then the shop
moves a day (new rows, changed orders and payments) and run 4 must update, not duplicate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec, TableRef
from stacks_contract.ports import ELStep, Orchestrator
from stacks_contract.warehouse import Warehouse
from stacks_core.fingerprint import Fingerprint, diff, fingerprint, portable_fingerprint
from stacks_core.sql import connect
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.shop import ShopServer

ELS = ("dlt", "airbyte")
ORCHESTRATORS = ("local", "dagster", "airflow", "temporal")
SHOP_URL_ENV = "STACKS_SHOP_URL"

__all__ = ["ELS", "ORCHESTRATORS", "Cell", "run_cell", "table"]


@dataclass
class Cell:
    el: str
    orch: str
    kind: str
    #: "ok", or the first check that failed
    result: str = "not run"
    rows: list[int] = field(default_factory=list)
    seconds: float = 0.0
    #: portable (engine-independent) fingerprints of the marts after run 1 and after run 4
    marts: Fingerprint | None = None
    marts_changed: Fingerprint | None = None

    @property
    def name(self) -> str:
        return f"{self.el} x {self.orch} on {self.kind}"


def el_step(el: str, warehouse: Warehouse, shop: ShopServer, stack: contextlib.ExitStack) -> ELStep:
    """The one constructor that differs between the EL columns."""
    if el == "dlt":
        from stacks_el_dlt.sources.demo_shop import ShopStep

        return ShopStep()
    from stacks_airflow_airbyte_dbt.stack import STREAMS, shop_connection
    from stacks_el_airbyte import AirbyteStep
    from stacks_el_airbyte.local.server import LocalEngine

    connection = shop_connection(warehouse, shop.url)
    engine = stack.enter_context(LocalEngine([connection]))
    return AirbyteStep(
        "shop",
        connection.connection_id,
        STREAMS,
        schema=warehouse.schema_name,
        env=engine.env(),
        poll_interval_s=0.2,
    )


def orchestrator(orch: str, temporal_address: Callable[[], str]) -> Orchestrator:
    """The one constructor that differs between the orchestrator columns."""
    if orch == "local":
        from stacks_core.local import LocalOrchestrator

        return LocalOrchestrator()
    if orch == "dagster":
        from stacks_orch_dagster import DagsterOrchestrator

        return DagsterOrchestrator()
    if orch == "airflow":
        from stacks_orch_airflow import AirflowOrchestrator

        return AirflowOrchestrator(retry_delay=0)
    from stacks_orch_temporal import TemporalOrchestrator

    return TemporalOrchestrator(address=temporal_address())


def run_cell(
    cell: Cell,
    warehouse: Warehouse,
    temporal_address: Callable[[], str],
    setenv: Callable[[str, str], None],
) -> None:
    """Run ``cell``'s four runs on ``warehouse``; fill its fields; raise AssertionError with the
    first check that fails."""
    started = time.monotonic()
    try:
        with ShopServer(seed=42) as shop, contextlib.ExitStack() as stack:
            setenv(SHOP_URL_ENV, shop.url)
            from stacks_transform_dbt import DbtTransform

            spec = StackSpec(
                name=f"swap-{cell.el}-{cell.orch}",
                el_steps=(el_step(cell.el, warehouse, shop, stack),),
                transform=DbtTransform(SHOP_DBT_PROJECT, name="dbt", schema="analytics"),
            )
            orch = orchestrator(cell.orch, temporal_address)
            _four_runs(cell, spec, orch, warehouse, shop)
        cell.result = "ok"
    except AssertionError as exc:
        cell.result = str(exc).splitlines()[0][:160]
        raise
    finally:
        cell.seconds = time.monotonic() - started


def _four_runs(
    cell: Cell, spec: StackSpec, orch: Orchestrator, warehouse: Warehouse, shop: ShopServer
) -> None:
    raw = [t for step in spec.el_steps for t in step.produces()]
    assert spec.transform is not None
    marts = list(spec.transform.produces())
    meta = spec.metadata_columns()

    def run(n: int) -> RunRecord:
        record = orch.run(spec, RunRequest(stack=spec.name), warehouse)
        assert record.status == RunStatus.SUCCEEDED, f"run {n} {record.status}: {record.error}"
        cell.rows.append(sum(record.rows.values()))
        return record

    run(1)
    assert cell.rows[0] > 0, "run 1 loaded no rows"
    once = fingerprint(warehouse, [*raw, *marts], metadata=meta)
    cell.marts = portable_fingerprint(warehouse, marts, metadata=meta)
    run(2)
    run(3)
    assert cell.rows[1:] == [0, 0], f"runs 2 and 3 loaded rows: {cell.rows}"
    thrice = fingerprint(warehouse, [*raw, *marts], metadata=meta)
    assert thrice == once, f"3 runs != 1 run: {'; '.join(diff(once, thrice))}"

    shop.advance()
    run(4)
    orders = shop.state.tables["orders"]
    _no_duplicates(warehouse, raw, orders)
    with connect(warehouse) as conn:
        status = dict(conn.execute("select order_id, status from analytics.fct_orders"))
    changed = sum(1 for i, o in orders.items() if status.get(i) != o["status"])
    assert changed == 0, f"after a changed source, {changed} orders in fct_orders are stale"
    cell.marts_changed = portable_fingerprint(warehouse, marts, metadata=meta)


def _no_duplicates(warehouse: Warehouse, raw: list[TableRef], orders: dict[int, Any]) -> None:
    with connect(warehouse) as conn:
        for ref in [*raw, TableRef("analytics", "fct_orders")]:
            key = "order_id" if ref.name == "fct_orders" else "id"
            total, distinct = conn.execute(
                f"select count(*), count(distinct {key}) from {ref.schema_name}.{ref.name}"
            )[0]
            assert total == distinct, f"{ref.key}: {total - distinct} duplicate row(s)"
        (n,) = conn.execute("select count(*) from analytics.fct_orders")[0]
    assert n == len(orders), f"fct_orders has {n} rows, the shop {len(orders)} orders"


def table(cells: list[Cell]) -> str:
    """A Markdown table of the cells, for a person: result, rows per run, seconds, marts."""
    digests: dict[str, str] = {}

    def label(fp: Fingerprint | None) -> str:
        if fp is None:
            return "-"
        key = repr(sorted((k, v.digest) for k, v in fp.items()))
        return digests.setdefault(key, chr(ord("A") + len(digests)))

    lines = [
        "| EL | orchestrator | warehouse | result | rows per run (1, 2, 3, after a change) "
        "| marts (run 1, run 4) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        marts = f"{label(c.marts)}, {label(c.marts_changed)}"
        rows = ", ".join(map(str, c.rows))
        lines.append(
            f"| {c.el} | {c.orch} | {c.kind} | {c.result} | {rows} | {marts} | {c.seconds:.0f} |"
        )
    lines.append("")
    lines.append(
        "marts: a letter per distinct portable fingerprint of the 8 models (equal letters, equal "
        "data, whichever engine); every cell must show A, B."
    )
    return "\n".join(lines)
