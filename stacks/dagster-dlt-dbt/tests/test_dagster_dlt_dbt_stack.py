"""The recommended stack end to end: real shop API, dlt, dbt and Dagster on Postgres/DuckDB."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_schedule_context, build_sensor_context
from pydantic import SecretStr
from stacks_contract.models import RunRecord, RunRequest, RunStatus, TableRef, TriggerKind
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.registry import load_stack
from stacks_core.sql import connect
from stacks_dagster_dlt_dbt import NAME, DagsterDltDbtStack
from stacks_demo.shop import ShopServer
from stacks_testing.suites import _common as c

RAW = ("customers", "products", "orders", "payments")
MARTS = ("fct_orders", "dim_customers", "daily_revenue")


def run(stack: DagsterDltDbtStack, warehouse: Warehouse, **request: object) -> RunRecord:
    """One run through the port, inside the stack's session (the fixture's shop)."""
    with stack.session(warehouse):
        return stack.orchestrator().run(
            stack.spec(warehouse), RunRequest(stack=stack.name, **request), warehouse
        )


#: what the stack's tools declare as load metadata (dlt's columns, dbt snapshot columns)
META = ("_stacks_*", "_dlt_*")


def ok(record: RunRecord) -> RunRecord:
    assert record.status == RunStatus.SUCCEEDED, record.error
    return record


def all_tables(stack: DagsterDltDbtStack, warehouse: Warehouse) -> list[TableRef]:
    spec = stack.spec(warehouse)
    return [t for s in spec.el_steps for t in s.produces()] + list(spec.transform.produces())


# --- wiring (no run) ----------------------------------------------------------------------------


def test_the_entry_point_builds_the_stack_with_hints(duckdb_warehouse) -> None:
    stack = load_stack(NAME)
    assert isinstance(stack, DagsterDltDbtStack)
    hints = "\n".join(stack.hints(duckdb_warehouse))
    assert f"duckdb {duckdb_warehouse.path}" in hints
    assert "select * from analytics.daily_revenue" in hints
    assert "Open the Dagster UI: uv run stacks ui dagster-dlt-dbt" in hints
    pg = PostgresWarehouse(database="shop", password=SecretStr("s3cret"))
    pg_hints = "\n".join(stack.hints(pg))
    assert "psql -h localhost -p 5432 -U postgres -d shop" in pg_hints
    assert "uv run stacks ui dagster-dlt-dbt --warehouse ..." in pg_hints
    assert "s3cret" not in pg_hints


def test_lineage_maps_every_dbt_source_to_exactly_one_el_asset(
    stack: DagsterDltDbtStack, duckdb_warehouse
) -> None:
    spec = stack.spec(duckdb_warehouse)
    sd = stack.orchestrator().definitions(spec, duckdb_warehouse)
    consumed = set(spec.transform.consumes())
    assert consumed == {TableRef("raw", t) for t in RAW}
    assert set(sd.source_lineage) == consumed, "a dbt source was not mapped"
    el_keys = set(sd.step_keys["shop"])
    assert el_keys == {AssetKey(["raw", t]) for t in RAW}
    assert set(sd.source_lineage.values()) == el_keys

    graph = sd.defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        for dep in graph.get(key).parent_keys:
            assert graph.get(dep).is_materializable, f"{key} depends on a stub asset {dep}"
    # dagster-dbt keys a model in a custom schema as [schema, model]
    stg_items = AssetKey(["staging", "stg_order_items"])
    assert graph.get(stg_items).parent_keys == {AssetKey(["raw", "orders"])}
    assert graph.get(AssetKey(["fct_orders"])).parent_keys == {
        AssetKey(["staging", "stg_orders"]),
        stg_items,
        AssetKey(["staging", "stg_payments"]),
    }
    # dbt tests are asset checks on the models they test
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == AssetKey(["fct_orders"])}
    assert "unique_fct_orders_order_id" in checks
    assert any(n.startswith("relationships_fct_orders_customer_id") for n in checks)


def test_schedule_and_source_change_sensor_request_the_right_runs(
    stack: DagsterDltDbtStack, shop: ShopServer, duckdb_warehouse
) -> None:
    defs = stack.orchestrator().definitions(stack.spec(duckdb_warehouse), duckdb_warehouse).defs
    (daily,) = list(defs.schedules)
    assert daily.cron_schedule == "0 6 * * *"
    tick = daily.evaluate_tick(build_schedule_context())
    assert [r.tags["stacks/trigger"] for r in tick.run_requests] == ["schedule"]

    assert daily.name == "dagster_dlt_dbt_daily_at_0600" and daily.job_name == "dagster_dlt_dbt"
    names = {s.name for s in defs.sensors}
    assert names == {
        "dagster_dlt_dbt_on_shop_change",
        "dagster_dlt_dbt_ledger_started",
        "dagster_dlt_dbt_ledger_succeeded",
        "dagster_dlt_dbt_ledger_failed",
    }
    sensor = defs.resolve_sensor_def("dagster_dlt_dbt_on_shop_change")
    assert sensor.job_name == "dagster_dlt_dbt_shop_and_downstream"
    job = defs.resolve_job_def(sensor.job_name)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} >= {
        "raw/orders",
        "fct_orders",
        "daily_revenue",
    }
    with DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert [r.tags["stacks/trigger"] for r in first.run_requests] == [
            TriggerKind.SOURCE_CHANGE.value
        ]
        quiet = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert not quiet.run_requests, "an unchanged shop must not trigger a run"
        shop.advance()
        changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert len(changed.run_requests) == 1
        assert changed.cursor == "42-1"


# --- runs ---------------------------------------------------------------------------------------


def test_three_runs_equal_one_reruns_load_nothing_full_refresh_reloads(
    stack: DagsterDltDbtStack, postgres_warehouse
) -> None:
    first = ok(run(stack, postgres_warehouse))
    assert first.rows == {
        "raw.customers": 50,
        "raw.products": 20,
        "raw.orders": 200,
        "raw.payments": 176,
    }
    assert first.models_built == 8 and first.tests_failed == 0 and first.tests_passed >= 20
    once = fingerprint(postgres_warehouse, all_tables(stack, postgres_warehouse), metadata=META)
    again = ok(run(stack, postgres_warehouse))
    assert sum(again.rows.values()) == 0, f"a rerun loaded rows: {again.rows}"
    # raw drifts from the source (dbt's views over it stay): a full refresh through dagster-dlt
    # reloads every raw table from the source, and dbt rebuilds on it
    with connect(postgres_warehouse) as conn:
        conn.execute("delete from raw.orders where id % 2 = 0")
        conn.execute("insert into raw.customers select * from raw.customers")
    refreshed = ok(run(stack, postgres_warehouse, full_refresh=True))
    assert refreshed.rows == first.rows
    thrice = fingerprint(postgres_warehouse, all_tables(stack, postgres_warehouse), metadata=META)
    assert thrice == once, diff(once, thrice)
    ledger = Ledger(postgres_warehouse).runs(NAME)
    assert [r.status for r in ledger] == [RunStatus.SUCCEEDED] * 3
    assert ledger[0].rows == first.rows and ledger[0].models_built == 8


def test_changed_source_rows_are_updated_exactly_once(
    stack: DagsterDltDbtStack, shop: ShopServer, postgres_warehouse
) -> None:
    ok(run(stack, postgres_warehouse))
    before = {i: o["updated_at"] for i, o in shop.state.tables["orders"].items()}
    shop.advance()
    orders = shop.state.tables["orders"]
    changed = {i for i, o in orders.items() if i in before and o["updated_at"] != before[i]}
    assert len(changed) == 10
    record = ok(run(stack, postgres_warehouse))
    assert record.rows["raw.orders"] == len(orders) - len(before) + len(changed)

    with connect(postgres_warehouse) as conn:
        for table, key in (("raw.orders", "id"), ("analytics.fct_orders", "order_id")):
            dupes = conn.execute(f"select count(*) - count(distinct {key}), count(*) from {table}")[
                0
            ]
            assert dupes == (0, len(orders)), f"{table}: (duplicates, rows) = {dupes}"
        status = dict(conn.execute("select order_id, status from analytics.fct_orders"))
        lines = conn.execute("select count(*) from analytics_staging.stg_order_items")[0][0]
    assert status == {i: o["status"] for i, o in orders.items()}
    # the order lines live in raw.orders.items (the raw contract); the staging view unnests them
    assert lines == sum(len(o["items"]) for o in orders.values())


def test_a_failing_dbt_test_fails_the_run_and_is_counted(
    stack: DagsterDltDbtStack, postgres_warehouse
) -> None:
    ok(run(stack, postgres_warehouse))
    with connect(postgres_warehouse) as conn:  # an order of a customer nobody knows
        conn.execute("update raw.orders set customer_id = 9999, updated_at = now() where id = 1")
    record = run(stack, postgres_warehouse)
    assert record.status == RunStatus.FAILED
    assert record.tests_failed == 1
    assert "relationships_fct_orders_customer_id" in (record.error or ""), record.error
    assert Ledger(postgres_warehouse).get(record.run_id).tests_failed == 1


def test_selecting_a_model_rebuilds_it_and_its_dependents_only(
    stack: DagsterDltDbtStack, duckdb_warehouse
) -> None:
    first = ok(run(stack, duckdb_warehouse))
    with stack.session(duckdb_warehouse):
        record = stack.orchestrator().run(
            stack.spec(duckdb_warehouse),
            RunRequest(stack=stack.name, select=("fct_orders+",)),
            duckdb_warehouse,
        )
    ok(record)
    assert record.rows == {}, "no EL step is upstream of the selection"
    assert record.models == ("daily_revenue", "dim_customers", "fct_orders")
    with connect(duckdb_warehouse) as conn:
        (rebuilt,) = conn.execute("select max(_stacks_run_id) from analytics.daily_revenue")[0]
        (staged,) = conn.execute("select max(_stacks_run_id) from analytics_staging.stg_orders")[0]
    assert rebuilt == record.run_id, "a table downstream of the selection was not rebuilt"
    assert staged == first.run_id, "a staging view upstream of the selection was rebuilt"


@pytest.mark.slow
def test_a_run_killed_mid_load_converges_on_rerun(
    stack: DagsterDltDbtStack, postgres_server, postgres_warehouse, tmp_path: Path
) -> None:
    """SIGKILL the stack (a subprocess) at random times after dlt starts loading, three times,
    then re-run: the warehouse equals one uninterrupted run's, raw tables and marts alike."""
    reference = postgres_server.create_database()
    script = Path(__file__).with_name("dagster_dlt_dbt_factories.py")
    try:
        c.check_interrupted_converges(
            command=lambda run_id: [sys.executable, str(script), run_id],
            env={},  # STACKS_SHOP_URL (the fixture's shop) is inherited
            interrupted=postgres_warehouse,
            reference=reference,
            rerun=lambda wh: ok(run(stack, wh)) and None,
            tables=lambda: all_tables(stack, postgres_warehouse),
            logs=tmp_path / "kill-logs",
            points=3,
            metadata=stack.spec(postgres_warehouse).metadata_columns(),
        )
    finally:
        postgres_server.drop_database(reference.database)


@pytest.mark.slow
def test_the_dagster_dbt_cli_runner_gives_the_same_warehouse(
    stack: DagsterDltDbtStack, duckdb_warehouse, tmp_path: Path
) -> None:
    """dagster-dbt's own DbtCliResource path (a dbt subprocess) against the in-process default."""
    from stacks_orch_dagster import DagsterOrchestrator

    spec = stack.spec(duckdb_warehouse)
    with stack.session(duckdb_warehouse):
        record = DagsterOrchestrator(dbt_runner="cli").run(
            spec, RunRequest(stack=stack.name), duckdb_warehouse
        )
    ok(record)
    assert record.models_built == 8 and record.tests_failed == 0 and record.tests_passed >= 20
    via_cli = fingerprint(duckdb_warehouse, all_tables(stack, duckdb_warehouse), metadata=META)
    other = DuckDBWarehouse(path=tmp_path / "in-process.duckdb")
    ok(run(stack, other))
    in_process = fingerprint(other, all_tables(stack, other), metadata=META)
    assert via_cli == in_process, diff(in_process, via_cli)


@pytest.mark.parametrize(
    "select",
    [("shop",), ("fct_orders",), ("raw.payments+",), ("+stg_orders", "tag:nothing_else")],
    ids=["step", "model", "table-downstream", "unknown-tag"],
)
def test_local_and_dagster_run_the_same_selection(
    stack: DagsterDltDbtStack, duckdb_warehouse, tmp_path: Path, select: tuple[str, ...]
) -> None:
    """One meaning of --select under every orchestrator: what ran is compared, run by run."""
    from stacks_contract.errors import ConfigError
    from stacks_core.local import LocalOrchestrator

    other = DuckDBWarehouse(path=tmp_path / "local.duckdb")
    ran = {}
    for name, orch, wh in (
        ("local", LocalOrchestrator(), other),
        ("dagster", stack.orchestrator(), duckdb_warehouse),
    ):
        with stack.session(wh):
            spec = stack.spec(wh)
            ok(orch.run(spec, RunRequest(stack=stack.name), wh))
            try:
                record = orch.run(spec, RunRequest(stack=stack.name, select=select), wh)
            except ConfigError as exc:
                ran[name] = ("ConfigError", str(exc))
                continue
        ok(record)
        ran[name] = (record.steps, record.models)
    assert ran["local"] == ran["dagster"], ran


def test_the_generic_port_path_leaves_the_same_warehouse_as_the_native_one(
    stack: DagsterDltDbtStack, duckdb_warehouse, tmp_path: Path
) -> None:
    """Without the [dlt]/[dbt] extras (here: native=False) every step runs through its port;
    the warehouse must not notice which path ran."""
    from stacks_orch_dagster import DagsterOrchestrator

    generic_wh = DuckDBWarehouse(path=tmp_path / "generic.duckdb")
    with stack.session(duckdb_warehouse):
        native = ok(run(stack, duckdb_warehouse))
        orch = DagsterOrchestrator(native=False)
        spec = stack.spec(generic_wh)
        generic = ok(orch.run(spec, RunRequest(stack=stack.name), generic_wh))
        keys = {k.to_user_string() for k in orch.definitions(spec, generic_wh).all_keys()}
    assert "analytics/fct_orders" in keys and "fct_orders" not in keys  # port keys, not dbt's
    assert (generic.rows, generic.models, generic.tests_passed) == (
        native.rows,
        native.models,
        native.tests_passed,
    )
    assert fingerprint(generic_wh, all_tables(stack, generic_wh), metadata=META) == fingerprint(
        duckdb_warehouse, all_tables(stack, duckdb_warehouse), metadata=META
    )
