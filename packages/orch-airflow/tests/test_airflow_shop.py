"""The demo shop stack (dlt shop step + the shared dbt project) under Airflow and Dagster."""

from __future__ import annotations

from stacks_contract.models import RunRequest, RunStatus
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_orch_airflow import AirflowOrchestrator


def test_shop_stack_under_airflow_equals_dagster(
    shop, duckdb_warehouse, tmp_path, make_shop_spec, marts
) -> None:
    from stacks_orch_dagster import DagsterOrchestrator

    spec = make_shop_spec()
    record = AirflowOrchestrator(retries=0).run(spec, RunRequest(stack=spec.name), duckdb_warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.models_built == 8
    assert record.rows["raw.orders"] > 0

    other = DuckDBWarehouse(path=tmp_path / "dagster.duckdb")
    spec2 = make_shop_spec()
    dagster = DagsterOrchestrator(retries=0).run(spec2, RunRequest(stack=spec2.name), other)
    assert dagster.status == RunStatus.SUCCEEDED, dagster.error

    a, b = fingerprint(duckdb_warehouse, marts), fingerprint(other, marts)
    assert a == b, "\n".join(diff(b, a))
    assert record.rows == dagster.rows
    assert (record.tests_passed, record.tests_failed) == (dagster.tests_passed, 0)
