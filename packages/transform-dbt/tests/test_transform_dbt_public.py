"""A dbt project as teams already run it with plain ``dbt build`` (``public_shop/``: a local
package from packages.yml, a seed, a snapshot, an incremental model, a unit test, a warn test,
an exposure, a target-conditional macro, a deprecated test syntax), run as a stack's transform
under the Local orchestrator on DuckDB and Postgres: no manual ``dbt deps``, nothing written into
the project, every model as plain ``dbt build`` makes it, warnings, errors and artifacts as dbt
shows them."""

from __future__ import annotations

import contextlib
import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from public_stack import (
    NODES,
    PACKAGE,
    PROJECT,
    copy_project,
    plain_dbt_build,
    rename_customer,
    seed,
    spec,
    tree_digest,
)
from stacks_contract.errors import ConfigError, StepFailed
from stacks_contract.models import RunRecord, RunRequest, RunStatus, TableRef
from stacks_contract.selection import resolve
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect
from stacks_transform_dbt import DbtTransform


def run(stack, warehouse: Warehouse, lines: list[str] | None = None, **req) -> RunRecord:
    def report(step: str, msg: str) -> None:
        if lines is not None:
            lines.append(msg)

    return LocalOrchestrator().run(stack, RunRequest(stack=stack.name, **req), warehouse, report)


@pytest.fixture(params=["duckdb", "postgres"])
def engine_wh(request, tmp_path):
    """An empty warehouse of each engine, for the tests a single run per engine proves."""
    if request.param == "duckdb":
        yield DuckDBWarehouse(path=tmp_path / "wh.duckdb")
        return
    server = request.getfixturevalue("postgres_server")
    wh = server.create_database()
    yield wh
    with contextlib.suppress(Exception):
        server.drop_database(wh.database)


def one(wh: Warehouse, sql: str):
    with connect(wh) as c:
        return c.execute(sql)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def shop(request, tmp_path_factory):
    """One warehouse per engine, loaded by the stack's EL steps and built from the repository's
    project; a second one built by plain dbt from a copy, on the same source data."""
    root = tmp_path_factory.mktemp(f"public-{request.param}")
    made: list[str] = []
    if request.param == "duckdb":
        warehouses = [DuckDBWarehouse(path=root / f"{n}.duckdb") for n in ("stack", "plain")]
    else:
        server = request.getfixturevalue("postgres_server")
        warehouses = [server.create_database() for _ in range(2)]
        made = [w.database for w in warehouses]
    stack_wh, plain_wh = warehouses
    sources = seed(root / "sources")
    before = tree_digest(PROJECT, PACKAGE)
    lines: list[str] = []
    stack = spec(sources)
    first = run(stack, stack_wh, lines)
    after = tree_digest(PROJECT, PACKAGE)
    for step in stack.el_steps:  # the same raw data, loaded the same way
        step.run(RunRequest(stack="plain"), plain_wh)
    plain_dbt_build(copy_project(root / "plain"), plain_wh)
    yield {
        "stack": stack,
        "wh": stack_wh,
        "plain": plain_wh,
        "first": first,
        "lines": lines,
        "unchanged": before == after,
        "root": root,
        "sources": sources,
    }
    if made:
        server = request.getfixturevalue("postgres_server")
        for name in made:
            with contextlib.suppress(Exception):
                server.drop_database(name)


def test_packages_are_installed_by_the_stack_and_the_project_stays_untouched(shop):
    first = shop["first"]
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert shop["unchanged"], "the run wrote into the dbt project or its local package"
    assert not (PROJECT / "dbt_packages").exists() and not (PROJECT / "package-lock.yml").exists()
    view = Path(first.artifacts).parent / "project" / PROJECT.name
    assert (view / "dbt_packages" / "shop_utils").is_dir()  # dbt deps ran, into the state folder


def test_every_model_equals_plain_dbt_build(shop):
    stack = shop["stack"]
    tables = stack.transform.produces()
    assert {t.name for t in tables} == set(NODES)
    metadata = stack.metadata_columns()
    assert (
        diff(
            fingerprint(shop["plain"], tables, metadata=metadata),
            fingerprint(shop["wh"], tables, metadata=metadata),
        )
        == []
    )


def test_warnings_seeds_snapshots_and_artifacts_are_counted_and_recorded(shop):
    first, lines = shop["first"], shop["lines"]
    assert (first.models_built, first.seeds_built, first.snapshots_built) == (5, 1, 1)
    assert (first.tests_passed, first.tests_warned, first.tests_failed) == (12, 1, 0)
    assert Ledger(shop["wh"]).get(first.run_id) == first
    target = Path(first.artifacts)
    assert {"run_results.json", "manifest.json"} <= {p.name for p in target.iterdir()}
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results if "accepted_values" in r["unique_id"]} == {"warn"}
    log = target.parent / "logs" / "dbt.log"
    assert log.stat().st_size > 0 and stat.S_IMODE(log.stat().st_mode) == 0o600
    # dbt's deprecation warning for the old test-argument syntax, once, in dbt's words
    deprecations = [ln for ln in lines if ln.startswith("deprecation:")]
    assert len(deprecations) == 1 and "`arguments` property" in deprecations[0]


def test_history_keeping_tables_are_exactly_those_a_rebuild_cannot_reproduce(tmp_path):
    """After a legitimate source change the snapshot holds history a rebuild from today's
    source cannot give: those tables, and only those, are declared history-keeping."""
    sources = seed(tmp_path / "sources")
    kept = spec(sources).transform.history_keeping()
    assert kept == (
        TableRef("analytics", "customer_versions"),
        TableRef("analytics", "customers_snapshot"),
    )
    wh = DuckDBWarehouse(path=tmp_path / "wh.duckdb")
    assert run(spec(sources), wh).status is RunStatus.SUCCEEDED
    rename_customer(sources, 2, "Nguyen")
    assert run(spec(sources), wh).status is RunStatus.SUCCEEDED
    scratch = DuckDBWarehouse(path=tmp_path / "scratch.duckdb")
    rebuilt = run(spec(sources), scratch, full_refresh=True)
    assert rebuilt.status is RunStatus.SUCCEEDED, rebuilt.error
    stack = spec(sources)
    tables, metadata = stack.transform.produces(), stack.metadata_columns()
    differ = diff(
        fingerprint(scratch, tables, metadata=metadata), fingerprint(wh, tables, metadata=metadata)
    )
    assert {line.split(":")[0] for line in differ} == {t.key for t in kept}


def test_slim_ci_builds_the_modified_model_and_its_children_and_defers_the_rest(
    tmp_path, monkeypatch, engine_wh
):
    sources, project = seed(tmp_path / "sources"), copy_project(tmp_path / "repo")
    wh = engine_wh
    prod = run(spec(sources, project), wh)
    assert prod.status is RunStatus.SUCCEEDED, prod.error
    artifacts = shutil.copytree(prod.artifacts, tmp_path / "prod-artifacts")
    model = project / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text().replace(" as amount,", " as amount,  -- dollars"))
    monkeypatch.setenv("DBT_STATE", str(artifacts))
    # --defer: what the selection leaves out (stg_customers, the seed) is read from the state
    # run's tables, so CI builds into a schema of its own
    monkeypatch.setenv("DBT_DEFER", "true")

    ci = run(spec(sources, project, schema="ci"), wh, select=("state:modified+",))
    assert ci.status is RunStatus.SUCCEEDED, ci.error
    assert (ci.models, ci.steps) == (("customers", "orders", "stg_orders"), ())
    with connect(wh) as c:
        assert {t for s, t in c.tables() if s == "ci"} == {"customers", "orders", "stg_orders"}
    assert one(wh, "select count(*) from ci.customers") == one(
        wh, "select count(*) from analytics.customers"
    )


def test_a_users_profile_and_target_are_used_and_must_write_to_the_stacks_warehouse(
    tmp_path, monkeypatch
):
    sources = seed(tmp_path / "sources")
    wh = DuckDBWarehouse(path=tmp_path / "wh.duckdb")
    outputs = {
        "dev": {"type": "duckdb", "path": str(wh.path), "schema": "dev"},
        "prod": {"type": "duckdb", "path": str(wh.path), "schema": "analytics"},
        "elsewhere": {"type": "duckdb", "path": str(tmp_path / "other.duckdb"), "schema": "x"},
    }
    profiles = {"public_shop": {"target": "dev", "outputs": outputs}}
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profiles))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    monkeypatch.setenv("DBT_TARGET", "prod")  # as dbt reads them

    record = run(spec(sources), wh)
    assert record.status is RunStatus.SUCCEEDED, record.error
    # the macro's `target.name == 'prod'` branch, into the prod output's schema
    assert one(wh, "select distinct deployment from analytics.customers") == [("prod",)]

    elsewhere = spec(sources, target="elsewhere")
    failed = run(elsewhere, wh)
    assert failed.status is RunStatus.FAILED
    assert "target 'elsewhere'" in failed.error and "other.duckdb" in failed.error
    assert "not to the stack's warehouse" in failed.error
    with pytest.raises(ConfigError, match=r"no profiles\.yml"):
        DbtTransform(PROJECT, profiles_dir=tmp_path / "missing")


def test_target_prod_takes_the_projects_prod_branch(tmp_path, monkeypatch, engine_wh):
    """`--target prod` (DBT_TARGET) names the rendered profile's target: the project's macro
    branching on `target.name == 'prod'` takes that branch."""
    sources = seed(tmp_path / "sources")
    monkeypatch.setenv("DBT_TARGET", "prod")
    record = run(spec(sources), engine_wh)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert one(engine_wh, "select distinct deployment from analytics.customers") == [("prod",)]


def test_a_broken_unit_tested_model_reports_the_database_message(tmp_path, engine_wh):
    sources, project = seed(tmp_path / "sources"), copy_project(tmp_path / "repo")
    model = project / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text().replace("    customer_id,", "    customer_idx,"))
    wh = engine_wh
    record = run(spec(sources, project), wh)
    assert record.status is RunStatus.FAILED
    assert "unit test test_stg_orders_converts_cents on model stg_orders error" in record.error
    assert "customer_idx" in record.error  # the database's own message
    assert "stg_orders" not in record.models
    assert Ledger(wh).get(record.run_id).error == record.error


def test_dbt_selector_methods_resolve_against_the_manifest(tmp_path):
    stack = spec(seed(tmp_path / "sources"))

    def models(selector: str) -> tuple[str, ...]:
        return resolve(stack, [selector]).models

    assert models("path:models/staging") == ("stg_customers", "stg_orders")
    assert models("config.materialized:incremental") == ("orders",)
    assert models("resource_type:snapshot") == ("customers_snapshot",)
    assert models("source:shop.orders+") == ("customers", "orders", "stg_orders")
    assert models("+customers,config.materialized:view") == ("stg_customers", "stg_orders")
    assert models("public_shop.marts.cust*") == ("customer_versions", "customers")
    # a leading + reaches upstream: the EL step loading what the models read runs too
    upstream = resolve(stack, ["+config.materialized:incremental"])
    assert (upstream.models, upstream.steps) == (("orders", "stg_orders"), ("orders",))
    with pytest.raises(ConfigError, match="selects no transform node"):
        resolve(stack, ["path:models/nowhere"])
    with pytest.raises(ConfigError, match="pass --state DIR"):
        resolve(stack, ["state:modified+"])


def test_packages_follow_the_lock_and_are_installed_again_only_when_the_spec_changes(
    tmp_path, monkeypatch
):
    from dbt.cli.main import dbtRunner
    from stacks_transform_dbt import workspace

    project = copy_project(tmp_path / "repo")
    assert (
        dbtRunner().invoke(["deps", "--project-dir", str(project), "--log-level", "none"]).success
    )
    # a committed lock pins another folder for the same spec: dbt installs what the lock says
    pinned = shutil.copytree(PACKAGE, tmp_path / "repo" / "shop_utils_pinned")
    lock = project / "package-lock.yml"
    lock.write_text(lock.read_text().replace("../shop_utils", "../shop_utils_pinned"))
    shutil.rmtree(project / "dbt_packages")
    calls: list[str] = []
    real = workspace.invoke
    monkeypatch.setattr(
        workspace, "invoke", lambda inv, cmd, *a, **k: calls.append(cmd) or real(inv, cmd, *a, **k)
    )
    wh = DuckDBWarehouse(path=tmp_path / "wh.duckdb")
    transform = DbtTransform(project, state_dir=tmp_path / "state")
    view = transform.invocation(wh, RunRequest(stack="x")).project_dir
    assert (view / "dbt_packages" / "shop_utils").resolve() == pinned.resolve()
    transform.invocation(wh, RunRequest(stack="x"))
    assert calls == ["deps"]  # unchanged spec: not again
    spec_file = project / "packages.yml"
    spec_file.write_text(spec_file.read_text() + "# a comment\n")
    transform.invocation(wh, RunRequest(stack="x"))
    assert calls == ["deps", "deps"]
    assert not (project / "dbt_packages").exists()


def test_a_package_that_cannot_be_installed_is_one_sentence(tmp_path):
    project = copy_project(tmp_path / "repo")
    (project / "packages.yml").write_text("packages:\n  - local: ../nowhere\n")
    with pytest.raises(ConfigError) as failed:
        DbtTransform(project, state_dir=tmp_path / "state").consumes()
    text = str(failed.value)
    assert "../nowhere" in text and "\n" not in text and text.startswith("Installing the dbt")


def test_a_seed_landing_in_the_schema_the_el_steps_load_is_named(tmp_path):
    lines: list[str] = []
    transform = DbtTransform(PROJECT, source_schema="analytics")  # the seeds' schema, too
    with pytest.raises(StepFailed, match="run the EL step that loads it first"):
        transform.run(
            RunRequest(stack="x"),
            DuckDBWarehouse(path=tmp_path / "wh.duckdb"),
            lambda s, m: lines.append(m),
        )
    assert (
        "warning: the seed analytics.country_codes lands in the schema the EL steps load" in lines
    )
