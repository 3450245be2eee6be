"""Activities alone (``ActivityEnvironment``), and retries under the time-skipping test server:
a retry with a one-hour backoff passes without waiting an hour."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr
from stacks_contract.models import RunRequest, RunStatus, StackSpec
from stacks_contract.ports import silent
from stacks_core.ledger import Ledger
from stacks_orch_temporal import (
    StackActivities,
    StackResolver,
    StepOptions,
    TemporalBundle,
    TemporalOrchestrator,
    code_version,
    stack_ref,
)
from stacks_orch_temporal.devserver import time_skipping_binary
from stacks_testing import reference as ref
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment


class FlakyStep(ref.ReferenceELStep):
    """Fails its first attempt (counted in a file beside the source)."""

    incremental: ClassVar[bool] = True

    def run(self, request, warehouse, report=silent):  # type: ignore[override]
        counter = self.source.with_suffix(".attempts")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n == 0:
            raise ConnectionError("the source hung up")
        return super().run(request, warehouse, report)


@pytest.fixture
def stack(tmp_path: Path) -> StackSpec:
    return ref.reference_stack(tmp_path / "src", name="units")


def _activities(stack: StackSpec, warehouse) -> tuple[StackActivities, dict]:
    resolver = StackResolver({stack.name: stack}, [warehouse])
    return StackActivities(resolver), stack_ref(stack.name, warehouse).model_dump(mode="json")


def test_an_el_activity_loads_and_returns_the_load_result(stack, duckdb_warehouse) -> None:
    acts, sref = _activities(stack, duckdb_warehouse)
    request = RunRequest(stack=stack.name).model_dump(mode="json")
    result = asyncio.run(ActivityEnvironment().run(acts.el_step, sref, request, "orders"))
    assert result["rows"] == {"raw.orders": 24}


def test_an_unknown_selection_is_a_non_retryable_config_error(stack, duckdb_warehouse) -> None:
    acts, sref = _activities(stack, duckdb_warehouse)
    request = RunRequest(stack=stack.name, select=("nope",)).model_dump(mode="json")
    with pytest.raises(ApplicationError) as err:
        asyncio.run(ActivityEnvironment().run(acts.plan, sref, request))
    assert err.value.non_retryable and err.value.type == "ConfigError"
    assert "nope" in err.value.message and "\n" not in err.value.message


def test_a_failing_transform_test_is_non_retryable_with_one_sentence(
    stack, duckdb_warehouse
) -> None:
    failing = ref.SqlTest("always_fails", "customer_orders", "select 1 as failing_row")
    transform = dataclasses.replace(stack.transform, tests=(*stack.transform.tests, failing))
    stack = stack.model_copy(update={"transform": transform})
    acts, sref = _activities(stack, duckdb_warehouse)
    request = RunRequest(stack=stack.name).model_dump(mode="json")
    env = ActivityEnvironment()
    for step in ("customers", "orders"):
        asyncio.run(env.run(acts.el_step, sref, request, step))
    with pytest.raises(ApplicationError) as err:
        asyncio.run(env.run(acts.transform, sref, request))
    assert err.value.non_retryable and err.value.type == "TransformFailed"
    assert err.value.message.startswith("Step 'sql' failed"), err.value.message


def test_a_step_error_names_the_step_and_masks_the_password(stack, postgres_warehouse) -> None:
    secret = "Unit-Pa55"
    warehouse = postgres_warehouse.model_copy(update={"password": SecretStr(secret)})
    flaky = FlakyStep("orders", stack.step("orders").source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), flaky)})
    acts, sref = _activities(stack, warehouse)
    assert secret not in str(sref)
    request = RunRequest(stack=stack.name).model_dump(mode="json")
    with pytest.raises(ApplicationError) as err:
        asyncio.run(ActivityEnvironment().run(acts.el_step, sref, request, "orders"))
    assert not err.value.non_retryable
    assert err.value.message == "Step 'orders' failed: ConnectionError: the source hung up"


def test_retries_back_off_in_skipped_time(stack, duckdb_warehouse) -> None:
    flaky = FlakyStep("orders", stack.step("orders").source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), flaky)})
    hour = StepOptions(initial_interval=3600.0, max_attempts=3)
    bundle = TemporalBundle(
        ref=stack_ref(stack.name, duckdb_warehouse),
        task_queue="units",
        options=hour,
        resolver=StackResolver({stack.name: stack}, [duckdb_warehouse]),
    )
    request = RunRequest(stack=stack.name)

    async def scenario():
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(time_skipping_binary())
        ) as env:
            start = await env.get_current_time()
            async with bundle.worker(env.client):
                record = await bundle.execute(env.client, request)
            return record, await env.get_current_time() - start

    record, skipped = asyncio.run(scenario())
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert flaky.source.with_suffix(".attempts").read_text() == "2"
    assert skipped >= timedelta(hours=1), "the backoff was not honoured"
    assert Ledger(duckdb_warehouse).get(record.run_id).rows["raw.orders"] == 24


def test_the_same_run_id_twice_attaches_instead_of_running_again(
    stack, duckdb_warehouse, temporal_server
) -> None:
    orchestrator = TemporalOrchestrator(address=temporal_server.address)
    request = RunRequest(stack=stack.name)
    first = orchestrator.run(stack, request, duckdb_warehouse)
    assert first.status == RunStatus.SUCCEEDED, first.error
    ref.ReferenceSource(stack.step("orders").source).append(
        {"id": 901, "customer_id": 1, "amount": 5.0, "status": "placed"}
    )
    second = orchestrator.run(stack, request, duckdb_warehouse)
    assert second == first, "the second start ran the stack again"
    assert [r.run_id for r in Ledger(duckdb_warehouse).runs()] == [request.run_id]


def test_a_run_history_replays_in_temporal_s_sandbox(
    stack, duckdb_warehouse, temporal_server
) -> None:
    """Workers run the workflow unsandboxed (the sandbox re-imports it for every run); replaying
    a real history under the default sandboxed runner proves it deterministic and sandbox-safe,
    local activities (plan, ledger) included."""
    from stacks_orch_temporal.workflow import StackRunWorkflow
    from temporalio.client import Client
    from temporalio.worker import Replayer

    request = RunRequest(stack=stack.name)
    record = TemporalOrchestrator(address=temporal_server.address).run(
        stack, request, duckdb_warehouse
    )
    assert record.status == RunStatus.SUCCEEDED, record.error

    async def replay() -> tuple[list[str], object, set[str], dict]:
        client = await Client.connect(temporal_server.address)
        handle = client.get_workflow_handle(request.run_id)
        history = await handle.fetch_history()
        kinds = [e.WhichOneof("attributes") for e in history.events]
        builds = {
            e.workflow_task_completed_event_attributes.worker_version.build_id
            for e in history.events
            if e.HasField("workflow_task_completed_event_attributes")
        }
        memo = await (await handle.describe()).memo()
        replayed = await Replayer(workflows=[StackRunWorkflow]).replay_workflow(history)
        return kinds, replayed, builds, memo

    kinds, result, builds, memo = asyncio.run(replay())
    # the worker's build id is the stack's code version; the memo names the stacks run
    assert builds == {code_version(stack.name)}, builds
    assert code_version(stack.name).startswith("not-installed+orch-temporal-")
    assert memo == {"stacks_run_id": request.run_id}
    assert result.replay_failure is None, result.replay_failure
    # plan, ledger start and finish are markers; the two EL steps and the transform activities
    assert kinds.count("marker_recorded_event_attributes") == 3
    assert kinds.count("activity_task_scheduled_event_attributes") == 3


def test_state_paths_are_the_dev_servers_history_files(tmp_path: Path, duckdb_warehouse):
    """What `stacks clean` removes: the dev server's SQLite history (and its WAL files); none
    when runs go to a Temporal server at a configured address."""
    from stacks_orch_temporal import TemporalOrchestrator

    db = tmp_path / ".stacks" / "temporal.db"
    db.parent.mkdir()
    for name in ("temporal.db", "temporal.db-wal", "other.db"):
        (db.parent / name).write_text("x")
    spec = ref.reference_stack(tmp_path / "src")
    paths = TemporalOrchestrator(state_file=db).state_paths(spec, duckdb_warehouse)
    assert sorted(p.name for p in paths) == ["temporal.db", "temporal.db-wal"]
    remote = TemporalOrchestrator(address="localhost:7233", state_file=db)
    assert remote.state_paths(spec, duckdb_warehouse) == ()
