"""DbtTransform against real DuckDB and Postgres: build, results, selection, full refresh,
idempotency, merges, and failures a user must see."""

from __future__ import annotations

from decimal import Decimal

import pytest
from stacks_contract.errors import ConfigError, StepFailed
from stacks_contract.models import NodeStatus, RunRequest, TableRef
from stacks_contract.warehouse import PostgresWarehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.sql import connect
from stacks_transform_dbt import DbtStepFailed, DbtTransform, result_from_run_results

MODELS = {"stg_customers", "stg_orders", "orders_enriched", "customer_revenue"}


def req(**kw) -> RunRequest:
    return RunRequest(stack="test", **kw)


def rows(wh, sql):
    with connect(wh) as c:
        return c.execute(sql)


def test_manifest_declares_sources_and_models(project_dir):
    t = DbtTransform(project_dir)
    assert t.consumes() == (TableRef("raw", "customers"), TableRef("raw", "orders"))
    assert set(t.produces()) == {TableRef("analytics", m) for m in MODELS}
    # the broken model and failing test exist only when their var is set
    broken = DbtTransform(project_dir, vars={"stacks_test_broken": True})
    assert TableRef("analytics", "broken_orders") in broken.produces()


def test_build_reports_every_model_and_test(warehouse, project_dir, shop):
    shop.seed(warehouse)
    lines: list[str] = []
    request = req()
    result = DbtTransform(project_dir).run(request, warehouse, lambda s, m: lines.append(m))

    assert result.ok and result.run_id == request.run_id
    assert {m.name for m in result.models} == MODELS
    assert all(m.status is NodeStatus.SUCCESS and m.seconds > 0 for m in result.models)
    by_name = {m.name: m for m in result.models}
    assert by_name["customer_revenue"].table == TableRef("analytics", "customer_revenue")
    if isinstance(warehouse, PostgresWarehouse):  # dbt-duckdb reports no row counts
        assert by_name["customer_revenue"].rows_affected == 5
        assert by_name["orders_enriched"].rows_affected == 20
        assert by_name["stg_orders"].rows_affected is None  # a view: not applicable

    tests = {t.name: t for t in result.tests}
    assert len(tests) == 11
    warn = tests["accepted_values_stg_customers_country__DE__FR"]
    assert (warn.status, warn.failures, warn.model) == (NodeStatus.WARN, 1, "stg_customers")
    assert result.count(NodeStatus.PASS) == 10
    assert any("customer_revenue" in line and "success" in line for line in lines)

    assert rows(warehouse, "select count(*) from analytics.orders_enriched") == [(20,)]
    stamped = rows(warehouse, "select distinct _stacks_run_id from analytics.customer_revenue")
    assert stamped == [(request.run_id,)]


def test_results_file_translates_like_the_run(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    request = req()
    result = t.run(request, warehouse)
    path = t.invocation(warehouse, request).target_path / "run_results.json"
    again = result_from_run_results(path, request, result.started_at)
    assert [(m.name, m.status, m.table) for m in again.models] == [
        (m.name, m.status, m.table) for m in result.models
    ]
    assert [(x.name, x.status, x.failures, x.model) for x in again.tests] == [
        (x.name, x.status, x.failures, x.model) for x in result.tests
    ]


def test_one_run_equals_three_runs(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    t.run(req(), warehouse)
    once = fingerprint(warehouse, schemas=["analytics"])
    t.run(req(), warehouse)
    t.run(req(), warehouse)
    assert once and diff(once, fingerprint(warehouse, schemas=["analytics"])) == []


def test_updated_upstream_row_is_merged_once(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    t.run(req(), warehouse)
    shop.update_order(warehouse, 3, 999)
    second = req()
    t.run(second, warehouse)
    got = rows(
        warehouse,
        "select count(*), sum(case when id = 3 then amount end) from analytics.orders_enriched",
    )
    assert got == [(20, Decimal("999.00"))]
    # only the changed row was rewritten by the incremental model
    assert rows(
        warehouse,
        f"select id from analytics.orders_enriched where _stacks_run_id = '{second.run_id}'",
    ) == [(3,)]
    # and the table downstream sees the new amount: customer 4 has orders 3, 8, 13, 18
    assert rows(
        warehouse, "select revenue from analytics.customer_revenue where customer_id = 4"
    ) == [(Decimal(999 + 80 + 130 + 180),)]


def test_select_builds_exactly_the_named_models(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    first = req()
    t.run(first, warehouse)
    partial = req(select=("orders_enriched", "customer_revenue"))
    result = t.run(partial, warehouse)
    assert {m.name for m in result.models} == {"orders_enriched", "customer_revenue"}
    assert {x.model for x in result.tests} == {"orders_enriched", "customer_revenue"}
    # the staging view was not rebuilt, the named tables were
    stamp = "select distinct _stacks_run_id from analytics.{}"
    assert rows(warehouse, stamp.format("stg_orders")) == [(first.run_id,)]
    assert rows(warehouse, stamp.format("customer_revenue")) == [(partial.run_id,)]
    only = t.run(req(select=("orders_enriched",)), warehouse)
    assert [m.name for m in only.models] == ["orders_enriched"]


def test_nodes_and_stamped_come_from_the_project(project_dir):
    t = DbtTransform(project_dir)
    nodes = {n.name: n for n in t.nodes()}
    assert "raw.orders" in nodes["stg_orders"].depends_on
    assert "stg_orders" in nodes["orders_enriched"].depends_on
    stamped = {ref.name for ref in t.stamped()}
    assert {"stg_orders", "customer_revenue"} <= stamped


def test_select_in_a_project_with_a_seed(duckdb_warehouse, project_dir, shop, tmp_path):
    # a seed's manifest node depends on macros only (no node list): selecting by name walks it
    import shutil

    project = tmp_path / "project"
    shutil.copytree(project_dir, project)
    (project / "seeds").mkdir()
    (project / "seeds" / "regions.csv").write_text("id,name\n1,north\n")
    config = project / "dbt_project.yml"
    config.write_text(config.read_text() + 'seed-paths: ["seeds"]\n')
    shop.seed(duckdb_warehouse)
    t = DbtTransform(project)
    t.run(req(), duckdb_warehouse)
    result = t.run(req(select=("orders_enriched",)), duckdb_warehouse)
    assert result.ok and "orders_enriched" in {m.name for m in result.models}


def test_select_unknown_model_is_one_sentence(duckdb_warehouse, project_dir, shop):
    shop.seed(duckdb_warehouse)
    with pytest.raises(ConfigError, match="has no model named 'nope'"):
        DbtTransform(project_dir).run(req(select=("nope",)), duckdb_warehouse)


def test_full_refresh_rebuilds_incremental_models(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    t.run(req(), warehouse)
    shop.delete_order(warehouse, 1)
    t.run(req(), warehouse)  # incremental: a deleted source row stays
    assert rows(warehouse, "select count(*) from analytics.orders_enriched") == [(20,)]
    result = t.run(req(full_refresh=True), warehouse)
    assert result.ok
    assert rows(warehouse, "select count(*) from analytics.orders_enriched") == [(19,)]


def test_sql_error_names_the_model_and_carries_the_database_message(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir, vars={"stacks_test_broken": True})
    with pytest.raises(StepFailed) as info:
        t.run(req(), warehouse)
    msg = str(info.value)
    assert "model broken_orders failed" in msg
    assert "no_such_column" in msg
    assert isinstance(info.value, DbtStepFailed)
    statuses = {m.name: m.status for m in info.value.result.models}
    assert statuses["broken_orders"] is NodeStatus.ERROR
    assert statuses["customer_revenue"] is NodeStatus.SUCCESS


def test_failing_test_gives_a_failed_result(warehouse, project_dir, shop):
    shop.seed(warehouse)
    t = DbtTransform(project_dir, vars={"stacks_test_failing": True})
    result = t.run(req(), warehouse)
    assert not result.ok
    failed = [x for x in result.tests if x.status is NodeStatus.FAIL]
    assert [(x.name, x.failures, x.model) for x in failed] == [
        ("assert_no_big_orders", 11, "orders_enriched")
    ]
    # build semantics: the model downstream of the failing test is skipped, not built
    statuses = {m.name: m.status for m in result.models}
    assert statuses["customer_revenue"] is NodeStatus.SKIPPED


def test_missing_source_table_is_one_sentence(warehouse, project_dir):
    with pytest.raises(StepFailed) as info:
        DbtTransform(project_dir).run(req(), warehouse)
    msg = str(info.value)
    assert "reads raw.customers, raw.orders, which do not exist in the warehouse" in msg
    assert "\n" not in msg


def test_bad_project_path_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"has no dbt_project\.yml\.$"):
        DbtTransform(tmp_path / "nowhere")


def test_sources_follow_the_warehouse_schema(warehouse, project_dir, make_shop):
    """The same models read whatever schema the EL steps loaded into."""
    landing = warehouse.with_schema("landing")
    make_shop("landing").seed(landing)
    result = DbtTransform(project_dir).run(req(), landing)
    assert result.ok
    assert rows(landing, "select count(*) from analytics.orders_enriched") == [(20,)]


def test_duckdb_file_is_released_after_a_run(duckdb_warehouse, project_dir, shop, tmp_path):
    import subprocess
    import sys

    shop.seed(duckdb_warehouse)
    DbtTransform(project_dir).run(req(), duckdb_warehouse)
    # another process (an EL step, the CLI) can open the file for writing
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "print(c.execute('select count(*) from analytics.customer_revenue').fetchone()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(duckdb_warehouse.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"


def test_state_dir_keeps_the_project_clean(duckdb_warehouse, project_dir, shop):
    shop.seed(duckdb_warehouse)
    DbtTransform(project_dir).run(req(), duckdb_warehouse)
    assert not (project_dir / "target").exists()
    assert not (project_dir / "logs").exists()


def test_unparseable_project_is_a_config_error(project_dir, tmp_path):
    import shutil

    broken = tmp_path / "project"
    shutil.copytree(project_dir, broken)
    (broken / "models" / "staging" / "stg_orders.sql").write_text("select {{ ref( }}")
    with pytest.raises(ConfigError) as info:
        DbtTransform(broken).consumes()
    msg = str(info.value)
    assert msg.startswith(f"The dbt project {broken} cannot be parsed:")
    assert "stg_orders" in msg


def test_a_yaml_error_is_a_config_error_with_its_line(project_dir, tmp_path):
    """dbt raises YamlLoadError (a ParsingError subclass): bad configuration, exit 2 in the CLI,
    with dbt's own lines (file, line, the YAML parser's words) kept one per line."""
    import shutil

    broken = tmp_path / "project"
    shutil.copytree(project_dir, broken)
    schema = broken / "models" / "marts" / "schema.yml"
    schema.write_text(schema.read_text() + "\n  - name: oops\n    columns: [\n")
    with pytest.raises(ConfigError) as info:
        DbtTransform(broken).consumes()
    msg = str(info.value)
    assert msg.startswith(f"The dbt project {broken} cannot be parsed:"), msg
    assert "schema.yml" in msg and "line" in msg
    assert len(msg.splitlines()) > 2, msg  # dbt's pointer to the line is not flattened


def test_invocation_drives_the_dbt_command_like_run(warehouse, project_dir, shop):
    """What orchestrators calling dbt themselves (dagster-dbt) rely on: the invocation's flags
    and environment build the same tables, and its run_results.json translates."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    shop.seed(warehouse)
    t = DbtTransform(project_dir)
    request = req()
    inv = t.invocation(warehouse, request)
    started = request.requested_at
    dbt = Path(sys.executable).parent / "dbt"
    out = subprocess.run(
        [str(dbt), *inv.args("build")],
        env={**os.environ, **inv.env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = t.result_from_run_results(inv.target_path / "run_results.json", request, started)
    assert result.ok and {m.name for m in result.models} == MODELS
    assert {m.table for m in result.models} == set(t.produces())
    assert len(result.tests) == 11
    stamped = rows(warehouse, "select distinct _stacks_run_id from analytics.orders_enriched")
    assert stamped == [(request.run_id,)]


def test_request_vars_reach_the_models(duckdb_warehouse, tmp_path):
    """`stacks run --vars '{n: 7}'` puts its vars into RunRequest.vars: dbt gets them as --vars
    (over the transform's own vars); the run id and the source schema stay the stack's."""
    project = tmp_path / "varsproj"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        'name: varsproj\nprofile: varsproj\nversion: "1.0"\nconfig-version: 2\n'
        "models:\n  varsproj:\n    +materialized: table\n"
    )
    (project / "models" / "picked.sql").write_text(
        "select {{ var('n', 1) }} as n, '{{ var('label', 'none') }}' as label, "
        "'{{ var('stacks_run_id') }}' as run_id"
    )
    transform = DbtTransform(project, vars={"n": 2, "label": "own"})
    request = req(vars={"n": 7, "stacks_run_id": "not-this"})
    result = transform.run(request, duckdb_warehouse)
    assert result.ok
    assert rows(duckdb_warehouse, "select n, label, run_id from analytics.picked") == [
        (7, "own", request.run_id)
    ]
    assert transform.run(req(), duckdb_warehouse).ok
    assert rows(duckdb_warehouse, "select n from analytics.picked") == [(2,)]
