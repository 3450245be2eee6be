"""The contract's own subjects pass its suites, on DuckDB and Postgres: the reference EL step,
the reference SQL transform and the LocalOrchestrator."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from stacks_contract.models import RunRequest, RunStatus, StackSpec, TableRef
from stacks_contract.ports import ELStep
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect
from stacks_testing import reference as ref
from stacks_testing.suites import (
    BaseELSuite,
    BaseOrchestratorSuite,
    BaseTransformSuite,
    BaseTriggerSuite,
    ELHarness,
    OrchestratorHarness,
    TransformHarness,
    TriggerHarness,
)
from stacks_testing.suites.reference import (
    LocalOrchestratorHarness,
    ReferenceELHarness,
    ReferenceTransformHarness,
    ReferenceTriggerHarness,
)


class TestReferenceELConformance(BaseELSuite):
    @pytest.fixture
    def el_harness(self, warehouse, tmp_path) -> ELHarness:
        return ReferenceELHarness(tmp_path / "source")


class TestReferenceTransformConformance(BaseTransformSuite):
    @pytest.fixture
    def transform_harness(self, warehouse, tmp_path) -> TransformHarness:
        return ReferenceTransformHarness(tmp_path / "source")


class TestLocalOrchestratorConformance(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self, warehouse, tmp_path) -> OrchestratorHarness:
        return LocalOrchestratorHarness()


class TestReferenceTriggerConformance(BaseTriggerSuite):
    @pytest.fixture
    def trigger_harness(self, warehouse, tmp_path) -> TriggerHarness:
        return ReferenceTriggerHarness()


# --- LocalOrchestrator behaviour beyond the suite -----------------------------------------------


def _stamps(warehouse, table: str) -> set[str]:
    with connect(warehouse) as conn:
        return {r[0] for r in conn.execute(f"select distinct _stacks_run_id from {table}")}


def test_local_select_of_a_model_runs_no_el_step_and_only_that_model(
    duckdb_warehouse, tmp_path
) -> None:
    stack = ref.reference_stack(tmp_path / "src")
    first = LocalOrchestrator().run(stack, RunRequest(stack=stack.name), duckdb_warehouse)
    assert first.status == RunStatus.SUCCEEDED, first.error
    ref.ReferenceSource(tmp_path / "src" / "orders.jsonl").append(
        {"id": 500, "customer_id": 2, "amount": 5.0, "status": "placed"}
    )
    request = RunRequest(stack=stack.name, select=("top_customers",))
    record = LocalOrchestrator().run(stack, request, duckdb_warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.rows == {} and record.models_built == 1
    assert _stamps(duckdb_warehouse, "raw.orders") == {first.run_id}
    assert _stamps(duckdb_warehouse, "analytics.customer_orders") == {first.run_id}
    assert _stamps(duckdb_warehouse, "analytics.top_customers") == {request.run_id}


def test_local_failing_data_test_fails_the_run_and_names_the_test(
    duckdb_warehouse, tmp_path
) -> None:
    stack = ref.reference_stack(tmp_path / "src")
    broken = ref.ReferenceSqlTransform(
        name="sql",
        models=stack.transform.models,
        sources=stack.transform.sources,
        tests=(
            ref.SqlTest(
                "no_rich_customers",
                "customer_orders",
                "select * from {schema}.customer_orders where amount > 0",
            ),
        ),
    )
    stack = stack.model_copy(update={"transform": broken})
    record = LocalOrchestrator().run(stack, RunRequest(stack=stack.name), duckdb_warehouse)
    assert record.status == RunStatus.FAILED
    assert "no_rich_customers" in (record.error or "")
    assert (record.models_built, record.tests_failed) == (2, 1)
    assert Ledger(duckdb_warehouse).get(record.run_id).status == RunStatus.FAILED


class _LeakyStep(ELStep):
    """Fails with the warehouse password in its message, as a careless driver might."""

    name = "leaky"

    def produces(self):
        return (TableRef(schema="raw", name="leaky"),)

    def run(self, request, warehouse, report=None):
        raise RuntimeError(f"login failed for {warehouse.password.get_secret_value()}")


def test_local_failure_message_masks_the_password(postgres_warehouse) -> None:
    secret = "s3cr3t-pw"
    warehouse = postgres_warehouse.model_copy(update={"password": SecretStr(secret)})
    stack = StackSpec(name="leaky", el_steps=(_LeakyStep(),))
    # the fixture's server trusts any password, so the ledger still writes
    record = LocalOrchestrator().run(stack, RunRequest(stack="leaky"), warehouse)
    assert record.status == RunStatus.FAILED
    assert "leaky" in record.error and secret not in record.error and "***" in record.error
    assert secret not in (Ledger(warehouse).get(record.run_id).error or "")
