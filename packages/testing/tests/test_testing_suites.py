"""The suites catch broken implementations: each broken reference step (or orchestrator) is run
through the real suite in a child pytest, and the check that should catch it must fail, with a
message a user can act on. The unbroken reference under the same harness passes those checks."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr
from stacks_contract.errors import ConfigError
from stacks_core.sql import connect
from stacks_testing import reference as ref
from stacks_testing.runner import (
    load_factory,
    run_and_kill,
    runner_command,
    warehouse_from_env,
    warehouse_to_env,
)

pytest_plugins = ["pytester"]

EL_MODULE = """
import json

import pytest
from pydantic import SecretStr
from stacks_core.sql import connect
from stacks_testing import reference as ref
from stacks_testing.runner import (
    load_factory,
    run_and_kill,
    runner_command,
    warehouse_from_env,
    warehouse_to_env,
)
from stacks_testing import reference as ref
from stacks_testing.suites import BaseELSuite
from stacks_testing.suites.reference import ReferenceELHarness

class TestSubject(BaseELSuite):
    kill_points = 1

    @pytest.fixture
    def el_harness(self, warehouse, tmp_path):
        return ReferenceELHarness(tmp_path / "source", ref.{step_class})
"""

ORCH_MODULE = """
import json

import pytest
from pydantic import SecretStr
from stacks_core.sql import connect
from stacks_testing import reference as ref
from stacks_testing.runner import (
    load_factory,
    run_and_kill,
    runner_command,
    warehouse_from_env,
    warehouse_to_env,
)
from stacks_contract.models import RunRecord, RunStatus, utcnow
from stacks_testing.suites import BaseOrchestratorSuite, OrchestratorHarness

class CarryOnOrchestrator:
    # BROKEN: swallows step errors, always reports success, never writes the ledger
    name = "carry-on"
    supports_partial_runs = False

    def run(self, stack, request, warehouse, report=None):
        for step in stack.el_steps:
            try:
                step.run(request, warehouse)
            except Exception:
                pass
        try:
            stack.transform.run(request, warehouse)
        except Exception:
            pass
        now = utcnow()
        return RunRecord(run_id=request.run_id, stack=stack.name, orchestrator=self.name,
                         trigger=request.trigger, status=RunStatus.SUCCEEDED,
                         started_at=now, finished_at=now)

class Harness(OrchestratorHarness):
    def make_orchestrator(self):
        return CarryOnOrchestrator()

    def orchestrator_factory(self):
        raise NotImplementedError

class TestSubject(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self, warehouse, tmp_path):
        return Harness()
"""

TRANSFORM_MODULE = """
import pytest
from stacks_contract.models import TableRef, TransformResult, utcnow
from stacks_contract.ports import Transform
from stacks_core.sql import connect
from stacks_testing.suites import BaseTransformSuite
from stacks_testing.suites.reference import ReferenceTransformHarness

class WatermarkOrders(Transform):
    # BROKEN: copies the orders newer than the newest it holds (upserting by id), so an order
    # that arrives late with an older timestamp never reaches it
    name = "watermark"

    def consumes(self):
        return (TableRef("raw", "customers"), TableRef("raw", "orders"))

    def produces(self):
        return (TableRef("analytics", "orders_copy"),)

    def incremental(self):
        return self.produces()

    def run(self, request, warehouse, report=None):
        started = utcnow()
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists analytics")
            if request.full_refresh:
                conn.execute("drop table if exists analytics.orders_copy")
            conn.execute(
                "create table if not exists analytics.orders_copy as "
                "select id, amount, updated_at from raw.orders where false"
            )
            new = (
                "from raw.orders where updated_at > coalesce((select max(updated_at) "
                "from analytics.orders_copy), '')"
            )
            conn.execute(f"delete from analytics.orders_copy where id in (select id {new})")
            conn.execute(f"insert into analytics.orders_copy select id, amount, updated_at {new}")
        return TransformResult(run_id=request.run_id, started_at=started, finished_at=utcnow())

class Harness(ReferenceTransformHarness):
    def make_transform(self):
        return WatermarkOrders()

class TestSubject(BaseTransformSuite):
    @pytest.fixture
    def transform_harness(self, warehouse, tmp_path):
        return Harness(tmp_path / "source")
"""


def test_a_watermark_model_missing_late_rows_fails_the_full_rebuild_check(
    pytester: pytest.Pytester,
) -> None:
    result = run_suite(pytester, TRANSFORM_MODULE, "full_rebuild_after or merged_once")
    result.assert_outcomes(passed=1, failed=1)  # updates reach it; the late order does not
    result.stdout.fnmatch_lines(
        [
            "*the incrementally maintained tables differ from a full rebuild*",
            "*analytics.orders_copy: 24 rows -> 25 rows*",
        ]
    )


def run_suite(pytester: pytest.Pytester, module: str, select: str) -> pytest.RunResult:
    pytester.makepyfile(test_subject=module)
    # DuckDB only: the child needs no Postgres cluster of its own
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "stacks_testing.plugin", "-rs", "-q",
        "-k", f"({select}) and duckdb",
    )  # fmt: skip


def el_suite(pytester: pytest.Pytester, step_class: str, select: str) -> pytest.RunResult:
    return run_suite(pytester, EL_MODULE.replace("{step_class}", step_class), select)


def test_the_reference_step_passes_the_checks_used_below(pytester: pytest.Pytester) -> None:
    result = el_suite(
        pytester,
        "ReferenceELStep",
        "one_run_equals or carries_the_run_id or interrupted or writes_nothing",
    )
    result.assert_outcomes(passed=4)


def test_append_only_step_fails_one_run_equals_three(pytester: pytest.Pytester) -> None:
    result = el_suite(pytester, "AppendOnlyELStep", "one_run_equals or writes_nothing")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*3 runs differ from 1 run*",
            "*raw.customers: 20 rows -> 60 rows*",
            "*AppendOnlyELStep.incremental is off (capability flag)*",
        ]
    )


def test_append_only_step_fails_changed_row(pytester: pytest.Pytester) -> None:
    result = el_suite(pytester, "AppendOnlyELStep", "changed_row")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*raw.customers went from 20 to 40 rows*"])


def test_step_losing_a_row_on_rerun_fails_one_run_equals_three(pytester: pytest.Pytester) -> None:
    result = el_suite(pytester, "ForgetfulELStep", "one_run_equals")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*raw.customers: 20 rows -> 19 rows*"])


def test_step_ignoring_the_run_id_fails_the_run_id_check(pytester: pytest.Pytester) -> None:
    result = el_suite(pytester, "RunIdIgnoringELStep", "carries_the_run_id")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rows not traceable to the run*", "*rows stamped 'own-*"])


def test_step_committing_its_cursor_first_fails_the_sigkill_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seed 5 puts the kill at ~0.6 of the run, inside the step's 3 s pause between its commits
    monkeypatch.setenv("STACKS_SUITE_SEED", "5")
    result = el_suite(pytester, "CursorFirstELStep", "interrupted")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*seed 5; kills*after the re-run the warehouse differs from an uninterrupted run*"]
    )


def test_orchestrator_swallowing_failures_fails_the_suite(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, ORCH_MODULE, "failing_step or succeeds_and_is_recorded")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*a run with a failing EL step did not fail*",
            "*the run is not in the run ledger*",
        ]
    )


# --- the runner the SIGKILL checks start ----------------------------------------------------------


def test_runner_gets_the_warehouse_with_its_password_from_the_environment_only(
    postgres_warehouse, tmp_path
) -> None:
    warehouse = postgres_warehouse.model_copy(update={"password": SecretStr("pw-in-env-only")})
    env = warehouse_to_env(warehouse)
    assert warehouse_from_env(env) == warehouse
    assert warehouse_from_env(env).password.get_secret_value() == "pw-in-env-only"

    paths = ref.seed_sources(tmp_path / "src", customers=5, orders=0)
    step = ref.ReferenceELStep("customers", paths["customers"], "customers")
    cmd = runner_command("el", "run-1", factory="stacks_testing.reference:el_step_from_env")
    assert not any("pw-in-env-only" in part for part in cmd)
    run = run_and_kill(
        cmd, {**env, ref.ENV_STEP: json.dumps(step.spec())}, None, log=tmp_path / "run.log"
    )
    assert run.finished, run.output
    assert '"raw.customers":5' in run.output
    with connect(warehouse) as conn:
        assert conn.execute("select count(*), min(_stacks_run_id) from raw.customers")[0] == (
            5,
            "run-1",
        )


def test_runner_loads_a_factory_from_a_file_path(tmp_path) -> None:
    (tmp_path / "my_factory.py").write_text("def make():\n    return 'built'\n")
    assert load_factory(f"{tmp_path / 'my_factory.py'}:make")() == "built"
    with pytest.raises(ConfigError, match="module:attr"):
        load_factory("no_colon_here")
