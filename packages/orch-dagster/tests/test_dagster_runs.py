"""DagsterOrchestrator behaviour beyond the conformance suite: retries, selection, tags, ledger."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from dagster_backfill import fire
from stacks_contract.errors import ConfigError
from stacks_contract.models import RunRequest, RunStatus, StackSpec, TriggerKind
from stacks_contract.ports import silent
from stacks_core.ledger import Ledger
from stacks_core.sql import connect
from stacks_orch_dagster import TAG_RUN_ID, TAG_TRIGGER, DagsterOrchestrator, build_definitions
from stacks_testing import reference as ref


class FlakyStep(ref.ReferenceELStep):
    """Fails its first ``failures`` attempts (counted in a file, so it is per test)."""

    incremental: ClassVar[bool] = True
    failures = 1

    def run(self, request, warehouse, report=silent):  # type: ignore[override]
        counter = self.source.with_suffix(".attempts")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n < self.failures:
            raise ConnectionError("the source hung up")
        return super().run(request, warehouse, report)


@pytest.fixture
def stack(tmp_path: Path) -> StackSpec:
    return ref.reference_stack(tmp_path / "src")


def test_a_flaky_step_is_retried_with_backoff(stack: StackSpec, duckdb_warehouse) -> None:
    orders = stack.step("orders")
    flaky = FlakyStep("orders", orders.source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), flaky)})
    record = DagsterOrchestrator(retries=2, retry_delay=0.1).run(
        stack, RunRequest(stack=stack.name), duckdb_warehouse
    )
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert flaky.source.with_suffix(".attempts").read_text() == "2"
    assert record.rows["raw.orders"] == 24


def test_without_retries_the_error_names_the_step(stack: StackSpec, duckdb_warehouse) -> None:
    orders = stack.step("orders")
    flaky = FlakyStep("orders", orders.source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), flaky)})
    record = DagsterOrchestrator(retries=0).run(
        stack, RunRequest(stack=stack.name), duckdb_warehouse
    )
    assert record.status == RunStatus.FAILED
    assert record.error == "Step 'orders' failed: ConnectionError: the source hung up"
    assert Ledger(duckdb_warehouse).get(record.run_id).error == record.error


def test_selecting_a_model_runs_only_that_model(stack: StackSpec, duckdb_warehouse) -> None:
    orch = DagsterOrchestrator()
    assert orch.run(stack, RunRequest(stack=stack.name), duckdb_warehouse).status == "succeeded"
    record = orch.run(
        stack, RunRequest(stack=stack.name, select=("top_customers",)), duckdb_warehouse
    )
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.rows == {}, "no EL step is selected"
    assert (record.models_built, record.models, record.steps) == (1, ("top_customers",), ())
    with connect(duckdb_warehouse) as conn:
        ids = dict(
            conn.execute(
                "select 'top', max(_stacks_run_id) from analytics.top_customers union all "
                "select 'co', max(_stacks_run_id) from analytics.customer_orders"
            )
        )
    assert ids["top"] == record.run_id and ids["co"] != record.run_id


def test_an_unknown_selection_fails_in_one_sentence(stack: StackSpec, duckdb_warehouse) -> None:
    with pytest.raises(ConfigError, match=r"Nothing named 'nope' to select\. Known EL steps"):
        DagsterOrchestrator().run(
            stack, RunRequest(stack=stack.name, select=("nope",)), duckdb_warehouse
        )
    with connect(duckdb_warehouse) as conn:
        assert not conn.table_exists("raw", "customers"), "nothing may run"


def test_a_run_launched_by_dagster_uses_the_run_id_in_its_tags(
    stack: StackSpec, duckdb_warehouse
) -> None:
    """What a schedule/sensor/UI run does: execute the job with stacks tags, no orchestrator."""
    sd = build_definitions(stack, duckdb_warehouse)
    job = sd.defs.resolve_job_def(sd.job_name)
    result = job.execute_in_process(
        tags={TAG_RUN_ID: "sensor-run-1", TAG_TRIGGER: TriggerKind.SOURCE_CHANGE.value}
    )
    assert result.success
    with connect(duckdb_warehouse) as conn:
        for table in ("raw.customers", "raw.orders", "analytics.top_customers"):
            (ids,) = conn.execute(f"select list(distinct _stacks_run_id) from {table}")[0]
            assert ids == ["sensor-run-1"], table


def test_definitions_are_built_once_per_stack_and_warehouse(
    stack: StackSpec, duckdb_warehouse
) -> None:
    orch = DagsterOrchestrator()
    assert orch.definitions(stack, duckdb_warehouse) is orch.definitions(stack, duckdb_warehouse)
    other = duckdb_warehouse.model_copy(
        update={"path": duckdb_warehouse.path.with_name("b.duckdb")}
    )
    assert orch.definitions(stack, other) is not orch.definitions(stack, duckdb_warehouse)


def test_runs_dagster_launches_are_recorded_by_the_ledger_sensors(
    stack: StackSpec, duckdb_warehouse
) -> None:
    from dagster import DagsterEventType, DagsterInstance

    sd = build_definitions(stack, duckdb_warehouse)
    sensors = {s.name: s for s in sd.defs.sensors}
    job = sd.defs.resolve_job_def(sd.job_name)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, tags={TAG_RUN_ID: "ui-run-1", TAG_TRIGGER: "schedule"}
        )
        assert result.success
        for name, kind in (
            ("reference_ledger_started", DagsterEventType.RUN_START),
            ("reference_ledger_succeeded", DagsterEventType.RUN_SUCCESS),
        ):
            fire(sensors[name], instance, result.run_id, kind)
            if name == "reference_ledger_started":
                assert Ledger(duckdb_warehouse).get("ui-run-1").status == RunStatus.RUNNING
    record = Ledger(duckdb_warehouse).get("ui-run-1")
    assert record.status == RunStatus.SUCCEEDED
    assert record.trigger == TriggerKind.SCHEDULE
    assert record.rows == {"raw.customers": 8, "raw.orders": 24}
    assert record.models_built == 2
    assert record.finished_at is not None and record.finished_at >= record.started_at


def test_a_failed_dagster_launched_run_is_recorded_with_its_error(
    stack: StackSpec, duckdb_warehouse
) -> None:
    from dagster import DagsterEventType, DagsterInstance

    orders = stack.step("orders")
    flaky = FlakyStep("orders", orders.source, "orders")
    flaky.failures = 5
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), flaky)})
    sd = build_definitions(stack, duckdb_warehouse, retries=0)
    sensor = next(s for s in sd.defs.sensors if s.name == "reference_ledger_failed")
    with DagsterInstance.ephemeral() as instance:
        result = sd.defs.resolve_job_def(sd.job_name).execute_in_process(
            instance=instance, tags={TAG_RUN_ID: "ui-run-2"}, raise_on_error=False
        )
        assert not result.success
        fire(sensor, instance, result.run_id, DagsterEventType.RUN_FAILURE)
    record = Ledger(duckdb_warehouse).get("ui-run-2")
    assert record.status == RunStatus.FAILED
    assert record.error == "Step 'orders' failed: ConnectionError: the source hung up"
    assert record.rows == {"raw.customers": 8}


def test_in_process_runs_record_into_the_ui_instance_and_its_sensors_skip_them(
    stack: StackSpec, duckdb_warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `stacks ui` made ./.stacks/dagster, `stacks run` records into that instance (the UI
    lists the run); the row in the stacks ledger is the run's own, not the UI sensors'."""
    from dagster import DagsterEventType, DagsterInstance
    from stacks_contract.models import StackRef

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    orch = DagsterOrchestrator()
    home = (tmp_path / ".stacks" / "dagster").absolute()
    command = orch.ui_command(StackRef(stack="reference"), home=home, port=3999)
    assert command.argv[1:4] == ("-m", "dagster", "dev")
    assert "stacks_orch_dagster.ui" in command.argv and command.argv[-1] == "3999"
    assert command.url == "http://127.0.0.1:3999"
    assert command.env["DAGSTER_HOME"] == str(home)
    assert command.env["STACKS_UI_STACK"] == "reference"
    assert "enabled: false" in (home / "dagster.yaml").read_text()  # telemetry off

    record = orch.run(stack, RunRequest(stack=stack.name), duckdb_warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    sd = build_definitions(stack, duckdb_warehouse)
    sensor = next(s for s in sd.defs.sensors if s.name == "reference_ledger_succeeded")
    with connect(duckdb_warehouse) as conn:
        conn.execute("delete from stacks_meta._stacks_runs")
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.tags[TAG_RUN_ID] == record.run_id
        fire(sensor, instance, run.run_id, DagsterEventType.RUN_SUCCESS)
    assert Ledger(duckdb_warehouse).get(record.run_id) is None, "the sensor recorded it again"


@pytest.mark.slow
def test_a_killed_run_leaves_no_temp_folder_once_the_next_run_is_done(
    tmp_path: Path, duckdb_warehouse, monkeypatch
) -> None:
    """A SIGKILLed run (stacks_testing's runner) cannot remove the scratch folder of its
    ephemeral Dagster instance; the next run's instance does, so killed runs do not pile up
    empty folders in the temp dir."""
    import os
    import signal
    import subprocess
    import tempfile
    import time

    from stacks_testing.reference import ENV_STACK, stack_spec_json
    from stacks_testing.runner import runner_command, warehouse_to_env

    spec = ref.reference_stack(tmp_path / "src")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, **warehouse_to_env(duckdb_warehouse), "TMPDIR": str(tmp)}
    env[ENV_STACK] = stack_spec_json(spec)
    cmd = runner_command(
        "stack",
        "killed-1",
        orchestrator="stacks_orch_dagster:DagsterOrchestrator",
        stack="stacks_testing.reference:stack_from_env",
    )
    with open(tmp_path / "child.log", "wb") as log:
        child = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # kill once the run's Dagster instance has its scratch folder
        while not any("dagster" in p.name for p in tmp.rglob("*")):
            assert child.poll() is None, (tmp_path / "child.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the run never made its scratch folder"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    left = {p.relative_to(tmp) for p in tmp.rglob("*")}
    assert any("dagster" in str(p) for p in left)  # what the kill left behind

    from stacks_orch_dagster.orchestrator import ephemeral_instance

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with ephemeral_instance():  # what the next run starts with (a whole run: +10 s here)
        live = [p for p in tmp.rglob("*") if "dagster" in p.name]
        assert len(live) == 1, live  # its own; the killed run's is gone
    assert [p for p in tmp.rglob("*") if "dagster" in p.name] == []


class WindowProbeStep(ref.ReferenceELStep):
    """Records the window of every request it runs for (runs are in this process)."""

    windows: ClassVar[list] = []

    def run(self, request, warehouse, report=silent):  # type: ignore[override]
        WindowProbeStep.windows.append(request.window)
        return super().run(request, warehouse, report)


def test_a_backfill_of_time_partitions_is_one_window_run(
    stack: StackSpec, duckdb_warehouse
) -> None:
    """A Dagster backfill of hourly partitions 00:00-11:00 (one run, the single-run backfill
    policy) reaches the steps as RunRequest.window [00:00, 12:00), and its ledger row is the
    backfill's; the Dagster run shows the window in its tags."""
    from datetime import UTC, datetime, timedelta

    from dagster_backfill import backfill
    from stacks_contract.models import Window
    from stacks_orch_dagster.runstate import TAG_WINDOW

    orders = stack.step("orders")
    probe = WindowProbeStep("orders", orders.source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), probe)})
    start = datetime(2024, 1, 1, 0, tzinfo=UTC)
    window = Window(start=start, end=start + timedelta(hours=12))
    WindowProbeStep.windows.clear()
    record, tags = backfill(stack, window, duckdb_warehouse)
    assert WindowProbeStep.windows and set(WindowProbeStep.windows) == {window}  # retries too
    assert tags[TAG_WINDOW] == "2024-01-01T00:00:00+00:00..2024-01-01T12:00:00+00:00"
    assert record.status == RunStatus.SUCCEEDED, record
    # each table's rows counted once (not once per hourly partition): what the run wrote
    with connect(duckdb_warehouse) as conn:
        wrote = {
            t: conn.execute(f"select count(*) from {t} where _stacks_run_id = ?", [record.run_id])[
                0
            ][0]
            for t in ("raw.customers", "raw.orders")
        }
    assert record.rows == wrote, (record.rows, wrote)


def test_a_window_run_hands_its_window_to_the_steps(stack: StackSpec, duckdb_warehouse) -> None:
    """`stacks run --window` under Dagster: the request's window reaches every step."""
    from datetime import UTC, datetime

    from stacks_contract.models import Window

    orders = stack.step("orders")
    probe = WindowProbeStep("orders", orders.source, "orders")
    stack = stack.model_copy(update={"el_steps": (stack.step("customers"), probe)})
    window = Window(
        start=datetime(2024, 1, 1, 0, tzinfo=UTC), end=datetime(2024, 1, 2, 0, tzinfo=UTC)
    )
    WindowProbeStep.windows.clear()
    record = DagsterOrchestrator().run(
        stack, RunRequest(stack=stack.name, window=window), duckdb_warehouse
    )
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert WindowProbeStep.windows and set(WindowProbeStep.windows) == {window}  # retries too
