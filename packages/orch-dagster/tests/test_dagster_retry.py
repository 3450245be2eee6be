"""A failed dbt build re-executed from failure (what Dagster's UI button launches: a run of the
failed step, with the parent's tags and dagster/parent_run_id): dbt runs only the failed and
skipped nodes (``dbt retry``, asserted from dbt's run_results.json), and the ledger shows the
stacks run once, succeeded, totalled over both Dagster runs."""

from __future__ import annotations

import json
from pathlib import Path

from dagster_backfill import fire
from stacks_contract.models import RunRequest, RunStatus
from stacks_core.ledger import Ledger
from stacks_orch_dagster import TAG_RUN_ID, build_definitions
from stacks_orch_dagster.runstate import TAG_STACK, TAG_WAREHOUSE, warehouse_tag
from stacks_testing import reference as ref
from stacks_testing.reference.retry_project import FAILING, break_b, heal, write_retry_project
from stacks_transform_dbt import DbtTransform


def test_a_failed_dbt_build_re_executed_from_failure_reruns_only_its_failures(
    tmp_path: Path, duckdb_warehouse
) -> None:
    from dagster import DagsterEventType, DagsterInstance

    dbt = DbtTransform(write_retry_project(tmp_path / "dbt"), schema="analytics")
    base = ref.reference_stack(tmp_path / "src")
    stack = base.model_copy(update={"transform": dbt})
    sd = build_definitions(stack, duckdb_warehouse, retries=0)
    job = sd.defs.resolve_job_def(sd.job_name)
    sensors = {s.name: s for s in sd.defs.sensors}
    tags = {
        TAG_RUN_ID: "nightly-1",
        TAG_STACK: stack.name,
        TAG_WAREHOUSE: warehouse_tag(duckdb_warehouse),
    }
    break_b(duckdb_warehouse)
    with DagsterInstance.ephemeral() as instance:
        first = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        assert not first.success
        fire(
            sensors["reference_ledger_failed"], instance, first.run_id, DagsterEventType.RUN_FAILURE
        )
        failed = Ledger(duckdb_warehouse).get("nightly-1")
        assert failed is not None and failed.status == RunStatus.FAILED
        assert "model(s) b (" in (failed.error or ""), failed.error

        heal(duckdb_warehouse)
        again = job.execute_in_process(
            instance=instance,
            asset_selection=sorted(set(sd.transform_keys.values()), key=str),  # the failed step
            tags={
                **tags,
                "dagster/parent_run_id": first.run_id,
                "dagster/root_run_id": first.run_id,
            },
            raise_on_error=False,
        )
        assert again.success
        fire(
            sensors["reference_ledger_succeeded"],
            instance,
            again.run_id,
            DagsterEventType.RUN_SUCCESS,
        )
    results = dbt.invocation(duckdb_warehouse, RunRequest(stack=stack.name)).target_path
    ran = json.loads((results / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].split(".")[2] for r in ran) == sorted(FAILING)
    record = Ledger(duckdb_warehouse).get("nightly-1")
    assert record is not None and record.status == RunStatus.SUCCEEDED, record
    assert record.error is None
    assert record.rows == {"raw.customers": 8, "raw.orders": 24}, "the parent run's loads"
    assert record.models == ("a", "b", "c", "d") and record.tests_passed == 2
    assert [r.run_id for r in Ledger(duckdb_warehouse).runs()] == ["nightly-1"]
