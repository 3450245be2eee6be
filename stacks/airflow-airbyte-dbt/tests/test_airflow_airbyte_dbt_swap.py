"""Swapping Airbyte for dlt without touching dbt: the same shop, loaded once through the local
Airbyte engine and once through el-dlt, into the same dbt project under the same orchestrator,
leaves equal marts (Postgres and DuckDB)."""

from __future__ import annotations

from stacks_airflow_airbyte_dbt import AirflowAirbyteDbtStack, build_stack
from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec
from stacks_contract.warehouse import Warehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_demo.shop import ShopServer


def _run(stack: AirflowAirbyteDbtStack, spec: StackSpec, warehouse: Warehouse) -> RunRecord:
    with stack.session(warehouse):
        record = stack.orchestrator().run(spec, RunRequest(stack=stack.name), warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    return record


def test_marts_equal_whichever_tool_loads_the_shop(
    shop: ShopServer, warehouse: Warehouse, warehouse_factory
) -> None:
    from stacks_el_dlt.sources.demo_shop import ShopStep

    stack = build_stack()
    airbyte_spec = stack.spec(warehouse)
    marts = airbyte_spec.transform.produces()
    airbyte = _run(stack, airbyte_spec, warehouse)
    assert airbyte.rows == {
        "raw.customers": 50,
        "raw.products": 20,
        "raw.orders": 200,
        "raw.payments": 176,
    }
    through_airbyte = fingerprint(warehouse, marts)

    # the same spec with its EL step swapped: one constructor, the dbt project untouched; into
    # a second warehouse of the same kind (the marts' incremental model must start from nothing)
    other = warehouse_factory()
    dlt_spec = stack.spec(other).model_copy(update={"el_steps": (ShopStep(),)})
    dlt = _run(stack, dlt_spec, other)
    assert sum(dlt.rows.values()) == sum(airbyte.rows.values())
    through_dlt = fingerprint(other, marts)
    assert through_dlt == through_airbyte, diff(through_airbyte, through_dlt)
