"""A run whose dbt build failed, retried the Temporal way once its cause is fixed: ``temporal
workflow reset --type FirstWorkflowTask`` (README "Deploy with Temporal"). The run id stays the
workflow id, so dbt runs only the failed and skipped nodes (``dbt retry``, asserted from dbt's
run_results.json) and the ledger keeps one row for the run, now succeeded."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from stacks_contract.models import RunRequest, RunStatus
from stacks_core.ledger import Ledger
from stacks_orch_temporal import (
    DevServer,
    StackResolver,
    StepOptions,
    TemporalBundle,
    dev_server_binary,
    stack_ref,
)
from stacks_testing import reference as ref
from stacks_testing.reference.retry_project import FAILING, break_b, heal, write_retry_project
from stacks_transform_dbt import DbtTransform

pytestmark = pytest.mark.timeout(600)


def test_a_failed_dbt_build_reset_after_the_fix_reruns_only_its_failures(
    temporal_server: DevServer, tmp_path: Path, duckdb_warehouse
) -> None:
    from temporalio.client import Client

    dbt = DbtTransform(write_retry_project(tmp_path / "dbt"), schema="analytics")
    spec = ref.reference_stack(tmp_path / "src", name="retried").model_copy(
        update={"transform": dbt}
    )
    bundle = TemporalBundle(
        ref=stack_ref(spec.name, duckdb_warehouse),
        task_queue=f"retry-{uuid.uuid4().hex[:8]}",
        options=StepOptions(initial_interval=0.2),
        resolver=StackResolver({spec.name: spec}, [duckdb_warehouse]),
    )
    request = RunRequest(stack=spec.name, run_id=f"nightly-{uuid.uuid4().hex[:6]}")
    break_b(duckdb_warehouse)

    async def scenario() -> tuple[object, object]:
        client = await Client.connect(temporal_server.address)
        async with bundle.worker(client):
            failed = await bundle.execute(client, request)
            heal(duckdb_warehouse)
            cmd = [str(dev_server_binary()), "workflow", "reset", "--workflow-id", request.run_id]
            cmd += ["--type", "FirstWorkflowTask", "--reason", "b fixed"]
            reset = subprocess.run(
                [*cmd, "--address", temporal_server.address],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert reset.returncode == 0, reset.stdout + reset.stderr
            handle = client.get_workflow_handle(request.run_id)  # the reset's new execution
            return failed, await asyncio.wait_for(handle.result(), timeout=300)

    failed, result = asyncio.run(scenario())
    assert failed.status == RunStatus.FAILED and "model b failed" in (failed.error or "")
    target = dbt.invocation(duckdb_warehouse, request).target_path
    ran = json.loads((target / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].split(".")[2] for r in ran) == sorted(FAILING)
    assert result["status"] == "succeeded" and result["run_id"] == request.run_id
    (row,) = Ledger(duckdb_warehouse).runs(spec.name)
    assert (row.run_id, row.status) == (request.run_id, RunStatus.SUCCEEDED)
    assert row.models == ("a", "b", "c", "d") and row.tests_passed == 2 and row.error is None
