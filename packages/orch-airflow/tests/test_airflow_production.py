"""Airflow in production shape: the path users run, not ``dag.test()``.

``airflow api-server``, ``airflow scheduler`` (LocalExecutor, parallelism 4) and ``airflow
dag-processor`` run as separate processes on 127.0.0.1 over a Postgres metadata DB, with DAG files
written by ``write_dag_file`` for two stacks: reference EL steps and a small dbt project (Cosmos),
one on DuckDB and one on Postgres, each with a daily cron trigger and a source-change trigger.
Driven only through the REST API, as a user or CI job would: a scheduled tick, the source-change
sensor firing, an API-triggered run, a task of a finished run cleared and re-run, a backfill of a
window on each warehouse (compared with ``stacks run --window``), and (Postgres) a failed dbt
build retried from its failures. Each run must land in the ledger exactly once with the
contract's run id and trigger kind, and each warehouse must equal a clean run's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: the helper beside us
from airflow_prod_services import (
    Deployment,
    free_port,
    metadata_url,
    service_env,
    stopped_on_sigterm,
)
from stacks_contract.models import (
    RunRecord,
    RunRequest,
    RunStatus,
    SourceChangeTrigger,
    StackRef,
    TriggerKind,
    Window,
)
from stacks_contract.triggers import cron_token, trigger_request
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect
from stacks_orch_airflow import write_dag_file
from stacks_testing.entrypoints import install_stacks

STACKS = str(Path(sys.executable).with_name("stacks"))

PROJECT = {
    "dbt_project.yml": (
        "name: prod\nversion: '1.0'\nprofile: prod\nmodels:\n  prod:\n    +materialized: table\n"
    ),
    "models/sources.yml": (
        "version: 2\nsources:\n  - name: raw\n"
        "    schema: \"{{ var('stacks_source_schema', 'raw') }}\"\n"
        "    tables:\n      - name: customers\n      - name: orders\n"
    ),
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: stg_customers\n    columns:\n      - name: id\n"
        "        tests: [unique, not_null]\n  - name: stg_orders\n    columns:\n"
        "      - name: customer_id\n        tests:\n          - relationships:\n"
        "              to: ref('stg_customers')\n              field: id\n"
    ),
    "models/stg_customers.sql": (
        'select id, name, country, \'{{ var("stacks_run_id", "") }}\' as _stacks_run_id '
        "from {{ source('raw', 'customers') }}"
    ),
    # reads raw.gate, which the Postgres retry scenario drops to make this model fail
    "models/stg_orders.sql": (
        'select id, customer_id, amount, status, \'{{ var("stacks_run_id", "") }}\' as '
        "_stacks_run_id from {{ source('raw', 'orders') }} "
        "where (select count(*) from {{ var('stacks_source_schema', 'raw') }}.gate) >= 0"
    ),
}
MODELS = ("stg_customers", "stg_orders")

STACKS_MODULE = """
import os, time
from stacks_contract.models import CronTrigger, SourceChangeTrigger, StackSpec
from stacks_contract.ports import Stack
from stacks_testing.reference import ReferenceELStep, reference_stack


class SlowStep(ReferenceELStep):
    seconds = 0.0

    def run(self, request, warehouse, report=None):
        time.sleep(self.seconds)
        return super().run(request, warehouse)


class ProdStack(Stack):
    name = "prod-duckdb"
    #: on Postgres, EL tasks long enough to overlap under a parallel executor
    el_seconds = 0.0

    def orchestrator(self):
        from stacks_orch_airflow import AirflowOrchestrator

        return AirflowOrchestrator(retries=0)

    def spec(self, warehouse):
        from stacks_transform_dbt import DbtTransform

        base = reference_stack(os.environ["PROD_SOURCES"], name=self.name)
        steps = tuple(
            SlowStep(s.name, s.source, s.table.name, schema=s.table.schema_name)
            for s in base.el_steps
        )
        for step in steps:
            step.seconds = self.el_seconds
        return StackSpec(
            name=self.name,
            el_steps=steps,
            transform=DbtTransform(os.environ["PROD_PROJECT"], name="dbt", schema="analytics"),
            triggers=(
                CronTrigger(cron="0 0 * * *"),
                SourceChangeTrigger(step="orders", poll_seconds=600),
            ),
        )


class PgStack(ProdStack):
    name = "prod-pg"
    el_seconds = 3.0
"""

KINDS = ("duckdb", "pg")
WAREHOUSE_ENV = {"duckdb": "PROD_WH_DUCKDB", "pg": "PROD_WH_PG"}
# the API-triggered run and the run the Postgres retry scenario fails and retries
API_RUN, RETRY_RUN = "api-el-only", "api-retry"
WINDOW = ("2024-01-01", "2024-01-02")
#: the reference sources' rows updated in WINDOW (the last order is updated 2024-01-02T00:30)
WINDOW_ROWS = {"raw.customers": 8, "raw.orders": 23}

pytestmark = pytest.mark.timeout(3600)


class Prod:
    """The deployment, its stacks and warehouses, and what the scenarios observed."""

    def __init__(self, deployment: Deployment, warehouses: dict[str, Warehouse], env: dict) -> None:
        self.d, self.warehouses, self.env = deployment, warehouses, env
        self.dag = {"duckdb": "prod-duckdb", "pg": "prod-pg"}
        self.started: dict[str, Any] = {}

    def spec(self, kind: str) -> Any:
        from stacks_core.registry import load_stack

        return load_stack(self.dag[kind]).spec(self.warehouses[kind])

    def ledger(self, kind: str) -> list[RunRecord]:
        return Ledger(self.warehouses[kind]).runs(self.dag[kind])


def open_gate(warehouse: Warehouse) -> None:
    with connect(warehouse) as conn:
        conn.execute("create schema if not exists raw")
        conn.execute("create table if not exists raw.gate (x integer)")


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Prod]:
    root = tmp_path_factory.mktemp("airflow-prod")
    project = root / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    site = install_stacks(
        root / "site",
        dist="stacks-airflow-prod-stacks",
        module="stacks_airflow_prod_stacks",
        source=STACKS_MODULE,
        stacks={"prod-duckdb": "ProdStack", "prod-pg": "PgStack"},
    )
    pg: PostgresWarehouse = postgres_server.create_database()
    meta: PostgresWarehouse = postgres_server.create_database()
    warehouses: dict[str, Warehouse] = {
        "duckdb": DuckDBWarehouse(path=root / "warehouse" / "prod.duckdb"),
        "pg": pg,
    }
    (root / "warehouse").mkdir()
    for wh in warehouses.values():
        open_gate(wh)
    port = free_port()
    extra = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "PROD_SOURCES": str(root / "sources"),
        "PROD_PROJECT": str(project),
        WAREHOUSE_ENV["duckdb"]: f"duckdb:///{root / 'warehouse' / 'prod.duckdb'}",
        WAREHOUSE_ENV["pg"]: pg.url(),
    }
    home = root / "airflow"
    env = service_env(home, metadata_url(meta), port, extra)
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    sys.path.insert(0, str(site))
    deployment = Deployment(home, env, port)
    with stopped_on_sigterm():
        try:
            for kind in KINDS:  # the dbt manifest exists before the dag-processor's first parse
                ref = StackRef(stack=f"prod-{kind}", warehouse_env=WAREHOUSE_ENV[kind])
                write_dag_file(ref, home / "dags", prepare=True)
            deployment.start()
            for kind in KINDS:
                deployment.wait_dag(f"prod-{kind}")
            yield Prod(deployment, warehouses, env)
        finally:
            deployment.stop()
            sys.path.remove(str(site))
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _overlapped(prod: Prod, dag_id: str, run_id: str, a: str, b: str) -> bool:
    """Whether any try of task ``a`` ran while a try of task ``b`` did."""

    def spans(task: str) -> list[tuple[datetime, datetime]]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/tries"
        tries = prod.d.api("GET", path)["task_instances"]
        return [
            (datetime.fromisoformat(t["start_date"]), datetime.fromisoformat(t["end_date"]))
            for t in tries
            if t["start_date"] and t["end_date"]
        ]

    return any(max(s1, s2) < min(e1, e2) for s1, e1 in spans(a) for s2, e2 in spans(b))


def test_a_scheduled_tick_is_the_cron_triggers_run(prod: Prod) -> None:
    """Unpausing the DAG schedules its latest tick: the ledger row has the contract's schedule
    run id and trigger, every step and model; Postgres runs the two EL tasks in parallel, DuckDB
    one task at a time."""
    for kind in KINDS:
        prod.d.unpause(prod.dag[kind])
    for kind in KINDS:
        (run,) = prod.d.wait_runs(prod.dag[kind], 1)
        assert run["run_type"] == "scheduled" and run["state"] == "success", run
        spec = prod.spec(kind)
        tick = datetime.fromisoformat(run["run_after"])
        want = trigger_request(spec, spec.triggers[0], cron_token(tick))
        (record,) = prod.ledger(kind)
        assert (record.run_id, record.trigger, record.status) == (
            want.run_id,
            TriggerKind.SCHEDULE,
            RunStatus.SUCCEEDED,
        ), record
        assert sorted(record.steps) == ["customers", "orders"] and record.models == MODELS
        assert record.rows == {"raw.customers": 8, "raw.orders": 24}
        assert record.tests_passed == 3 and record.tests_failed == 0
        parallel = _overlapped(prod, prod.dag[kind], run["dag_run_id"], "el_customers", "el_orders")
        assert parallel is (kind == "pg"), f"{kind}: the two EL tasks overlapped: {parallel}"
        prod.started[kind] = record


def test_the_source_change_sensor_fires_one_run(prod: Prod) -> None:
    for kind in KINDS:
        prod.d.unpause(f"{prod.dag[kind]}__orders_changed")
    for kind in KINDS:
        spec = prod.spec(kind)
        trigger = spec.triggers[1]
        assert isinstance(trigger, SourceChangeTrigger)
        want = trigger_request(spec, trigger, spec.step("orders").source_version())
        try:
            run = prod.d.wait_run(prod.dag[kind], want.run_id)
        finally:  # one firing is the point; the sensor's later polls are load
            prod.d.unpause(f"{prod.dag[kind]}__orders_changed", paused=True)
        assert run["state"] == "success", run
        record = Ledger(prod.warehouses[kind]).get(want.run_id)
        assert record is not None, f"{kind}: the sensor's run is not in the ledger"
        assert (record.trigger, record.status) == (TriggerKind.SOURCE_CHANGE, RunStatus.SUCCEEDED)
        assert record.steps == ("orders",) and record.models == ("stg_orders",)
        # the relationships test reads stg_orders (selected): dbt's eager selection runs it
        assert record.tests_passed == 1, record


def test_an_api_run_and_a_cleared_task_are_one_ledger_row(prod: Prod) -> None:
    """A run triggered through the REST API selecting one EL step runs no dbt task (the
    relationships test included); clearing its EL task re-runs it within the same ledger row,
    which keeps its start."""
    for kind in KINDS:
        body = {"dag_run_id": API_RUN, "logical_date": None, "conf": {"select": ["customers"]}}
        prod.d.api("POST", f"/dags/{prod.dag[kind]}/dagRuns", json=body)
    for kind in KINDS:
        assert prod.d.wait_run(prod.dag[kind], API_RUN)["state"] == "success"
        tis = prod.d.task_instances(prod.dag[kind], API_RUN)
        dbt_states = {t: ti["state"] for t, ti in tis.items() if t.startswith("dbt_")}
        assert set(dbt_states.values()) == {"skipped"}, dbt_states
        first = Ledger(prod.warehouses[kind]).get(API_RUN)
        assert first is not None and first.trigger == TriggerKind.MANUAL
        assert (first.status, first.steps, first.models) == (
            RunStatus.SUCCEEDED,
            ("customers",),
            (),
        )
        prod.d.api(
            "POST",
            f"/dags/{prod.dag[kind]}/clearTaskInstances",
            json={
                "dag_run_id": API_RUN,
                "task_ids": ["el_customers"],
                "dry_run": False,
                "only_failed": False,
            },
        )
        again = prod.d.wait(
            lambda kind=kind: _retried(prod, kind, API_RUN), 1800, f"{kind}: the cleared task"
        )
        assert again.status == RunStatus.SUCCEEDED, again
        assert again.started_at == first.started_at, "clearing a task restarted the run's row"
        assert again.finished_at is not None and first.finished_at is not None
        assert again.finished_at > first.finished_at
        assert again.steps == ("customers",)


def _retried(prod: Prod, kind: str, run_id: str) -> RunRecord | None:
    run = prod.d.api("GET", f"/dags/{prod.dag[kind]}/dagRuns/{run_id}")
    if run["state"] not in ("success", "failed"):
        return None
    tis = prod.d.task_instances(prod.dag[kind], run_id)
    if tis["stacks_finish"]["try_number"] < 2:
        return None
    return Ledger(prod.warehouses[kind]).get(run_id)


def test_a_backfill_covers_its_data_interval_like_stacks_run_window(
    prod: Prod, tmp_path: Path, postgres_server: Any
) -> None:
    """``POST /backfills`` for one day, on each warehouse: one run whose window is the day's
    data interval, re-delivering the window's rows (a cursor-based run would load none now); the
    warehouse then equals one that had a run and then a window run of the same day (``stacks
    run --window`` on DuckDB, the reference orchestrator's on Postgres)."""
    for kind in KINDS:  # both DAGs at once; the scheduler runs them while `stacks run` works
        body = {
            "dag_id": prod.dag[kind],
            "from_date": f"{WINDOW[0]}T00:00:00Z",
            "to_date": f"{WINDOW[0]}T00:00:00Z",
            "max_active_runs": 1,
        }
        prod.d.api("POST", "/backfills", json=body)
    others: dict[str, Warehouse] = {
        "duckdb": DuckDBWarehouse(path=tmp_path / "cli.duckdb"),
        "pg": postgres_server.create_database(),
    }
    for kind, other in others.items():
        open_gate(other)
        spec = prod.spec(kind)
        first = LocalOrchestrator().run(spec, RunRequest(stack=spec.name), other)
        assert first.status == RunStatus.SUCCEEDED, first.error
    # `stacks run` runs the DAG in-process on this session's own Airflow home (not the
    # deployment's metadata DB, where the scheduler would see its run)
    cli = [STACKS, "-q", "run", prod.dag["duckdb"], "-w", f"duckdb:///{tmp_path / 'cli.duckdb'}"]
    proc = subprocess.run(
        [*cli, "--json", "--window", "..".join(WINDOW)],
        env=dict(os.environ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["rows"] == WINDOW_ROWS
    # on Postgres the reference orchestrator's window run (the contract's window; Airflow's
    # own window run is the conformance suite's, on both warehouses): one in-process DAG less
    window = Window(
        start=datetime.fromisoformat(f"{WINDOW[0]}T00:00:00+00:00"),
        end=datetime.fromisoformat(f"{WINDOW[1]}T00:00:00+00:00"),
    )
    spec = prod.spec("pg")
    ran = LocalOrchestrator().run(spec, RunRequest(stack=spec.name, window=window), others["pg"])
    assert ran.status == RunStatus.SUCCEEDED and ran.rows == WINDOW_ROWS, ran

    for kind in KINDS:
        dag_id = prod.dag[kind]
        run = prod.d.wait(
            lambda dag_id=dag_id: next(
                (r for r in prod.d.runs(dag_id) if r["run_type"] == "backfill"), None
            ),
            300,
            f"the backfill's run of {dag_id}",
        )
        run = prod.d.wait_run(dag_id, run["dag_run_id"])
        assert run["state"] == "success", run
        interval = [datetime.fromisoformat(run[f"data_interval_{e}"]) for e in ("start", "end")]
        assert [d.isoformat() for d in interval] == [f"{day}T00:00:00+00:00" for day in WINDOW]
        record = Ledger(prod.warehouses[kind]).get(run["dag_run_id"].replace("+", "_"))
        assert record is not None and record.status == RunStatus.SUCCEEDED, (kind, record)
        assert record.rows == WINDOW_ROWS, f"{kind}: the backfill did not re-deliver: {record}"
        tables = _tables(prod.spec(kind))
        got, want = fingerprint(prod.warehouses[kind], tables), fingerprint(others[kind], tables)
        assert got == want, f"{kind}:\n" + "\n".join(diff(want, got))


def test_a_failed_dbt_build_is_retried_from_its_failures(prod: Prod) -> None:
    """Postgres: ``stg_orders`` fails (its gate table is gone), so the test reading it never
    runs. Once the gate is back, clearing only the failed tasks re-runs exactly those (dbt's
    results name them); the ledger keeps one row, failed and then succeeded."""
    kind = "pg"
    dag_id, wh = prod.dag[kind], prod.warehouses[kind]
    with connect(wh) as conn:
        conn.execute("drop table raw.gate")
    prod.d.api(
        "POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": RETRY_RUN, "logical_date": None}
    )
    assert prod.d.wait_run(dag_id, RETRY_RUN)["state"] == "failed"
    failed = Ledger(wh).get(RETRY_RUN)
    assert failed is not None and failed.status == RunStatus.FAILED, failed
    assert failed.error is not None and "stg_orders" in failed.error, failed.error
    assert failed.models == ("stg_customers",), failed
    before = prod.d.task_instances(dag_id, RETRY_RUN)
    rerun = {t for t, ti in before.items() if ti["state"] in ("failed", "upstream_failed")}
    # the teardown failed with the run, so "only failed" re-runs it and the retry is recorded
    assert rerun == {
        "dbt_dbt.stg_orders_model_build",
        "dbt_dbt.relationships_stg_orders_customer_id__id__ref_stg_customers__test",
        "stacks_finish",
    }, before
    open_gate(wh)
    body = {"dag_run_id": RETRY_RUN, "dry_run": False, "only_failed": True}
    prod.d.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)
    retried = prod.d.wait(lambda: _retried(prod, kind, RETRY_RUN), 1800, "the retry")
    assert retried.status == RunStatus.SUCCEEDED, retried
    assert retried.started_at == failed.started_at and retried.models == MODELS
    after = prod.d.task_instances(dag_id, RETRY_RUN)
    again = {t for t, ti in after.items() if ti["try_number"] > before[t]["try_number"]}
    assert again == rerun, again
    # dbt's own results: the nodes each re-run task built or tested, and nothing else
    nodes = set()
    for task in rerun - {"stacks_finish"}:
        path = (
            f"/dags/{dag_id}/dagRuns/{RETRY_RUN}/taskInstances/{task}/xcomEntries/stacks_transform"
        )
        params = {"deserialize": True, "stringify": False}
        result = prod.d.api("GET", path, params=params)["value"]
        result = json.loads(result) if isinstance(result, str) else result
        nodes |= {m["name"] for m in result["models"]} | {t["name"] for t in result["tests"]}
    assert nodes == {
        "stg_orders",
        "relationships_stg_orders_customer_id__id__ref_stg_customers_",
    }, nodes


def test_no_dbt_task_parsed_the_whole_project(prod: Prod) -> None:
    """dbt's partial parsing survives the run id changing every run: no task log says dbt
    threw its saved parse away."""
    full = [str(p) for p, text in prod.d.task_logs() if "Unable to do partial parsing" in text]
    assert not full, f"dbt re-parsed the whole project in: {full[:5]}"
    dbt_logs = [p for p, _ in prod.d.task_logs() if "task_id=dbt_" in str(p)]
    assert len(dbt_logs) >= 6


def test_each_run_is_in_the_ledger_once_and_the_warehouse_equals_a_clean_run(
    prod: Prod, tmp_path: Path, postgres_server: Any
) -> None:
    for kind in KINDS:
        runs = prod.d.runs(prod.dag[kind])
        records = prod.ledger(kind)
        ids = sorted(r.run_id for r in records)
        assert len(ids) == len(set(ids)) == len(runs), (ids, [r["dag_run_id"] for r in runs])
        assert all(r.status != RunStatus.RUNNING for r in records)
        clean: Warehouse = (
            DuckDBWarehouse(path=tmp_path / "clean.duckdb")
            if kind == "duckdb"
            else postgres_server.create_database()
        )
        open_gate(clean)
        spec = prod.spec(kind)
        record = LocalOrchestrator().run(spec, RunRequest(stack=spec.name), clean)
        assert record.status == RunStatus.SUCCEEDED, record.error
        tables = _tables(spec)
        got, want = fingerprint(prod.warehouses[kind], tables), fingerprint(clean, tables)
        assert got == want, "\n".join(diff(want, got))


def test_asset_events_only_for_tables_that_got_rows(prod: Prod) -> None:
    """Each raw table's asset got an event from the runs that loaded rows into it (the
    scheduled tick and the backfill), none from the runs that loaded 0 rows."""
    assets = {a["name"]: a["id"] for a in prod.d.api("GET", "/assets")["assets"]}
    for kind in KINDS:
        for table in ("raw.customers", "raw.orders"):
            params = {"asset_id": assets[table], "source_dag_id": prod.dag[kind], "limit": 100}
            events = prod.d.api("GET", "/assets/events", params=params)["asset_events"]
            assert len(events) == 2, f"{kind} {table}: {events}"
            assert all(e["extra"]["rows"] > 0 for e in events), events


def _tables(spec: Any) -> list[Any]:
    return [*(t for s in spec.el_steps for t in s.produces()), *spec.transform.produces()]
