"""The public-style dbt project of stacks-transform-dbt (packages/transform-dbt/tests/public_shop:
a local package, a seed, a snapshot, an incremental model, a unit test, a warn test, an exposure,
a target-conditional macro) under Dagster on DuckDB and Postgres, and through the `stacks`
command: `--target`, the summary's warnings and artifacts, `runs show`, `docs`."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_contract.models import RunRequest, RunStatus
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.sql import connect

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "packages" / "transform-dbt" / "tests"
sys.path.insert(0, str(TESTS))

from public_stack import (  # noqa: E402
    NODES,
    copy_project,
    plain_dbt_build,
    rename_customer,
    seed,
    spec,
    tree_digest,
)


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_under_dagster(kind, request, tmp_path, monkeypatch) -> None:
    """No manual dbt deps, the project untouched, every model as plain dbt build makes it, the
    warn test counted; then slim CI with --target prod; then a broken unit-tested model."""
    from stacks_orch_dagster import DagsterOrchestrator

    if kind == "duckdb":
        wh, plain = (DuckDBWarehouse(path=tmp_path / f"{n}.duckdb") for n in ("stack", "plain"))
        made: list[str] = []
    else:
        server = request.getfixturevalue("postgres_server")
        wh, plain = server.create_database(), server.create_database()
        made = [wh.database, plain.database]
    sources, project = seed(tmp_path / "sources"), copy_project(tmp_path / "repo")
    dagster = DagsterOrchestrator()

    def run(**req):
        stack = spec(sources, project)
        return stack, dagster.run(stack, RunRequest(stack=stack.name, **req), wh)

    try:
        before = tree_digest(project, project.parent / "shop_utils")
        stack, record = run()
        assert record.status is RunStatus.SUCCEEDED, record.error
        assert tree_digest(project, project.parent / "shop_utils") == before
        assert (record.models_built, record.seeds_built, record.snapshots_built) == (5, 1, 1)
        assert (record.tests_warned, record.tests_failed) == (1, 0)
        assert Ledger(wh).get(record.run_id).artifacts == record.artifacts
        for step in stack.el_steps:
            step.run(RunRequest(stack="plain"), plain)
        plain_dbt_build(copy_project(tmp_path / "plain"), plain)
        tables = stack.transform.produces()
        assert {t.name for t in tables} == set(NODES)
        meta = stack.metadata_columns()
        assert (
            diff(fingerprint(plain, tables, metadata=meta), fingerprint(wh, tables, metadata=meta))
            == []
        )

        artifacts = shutil.copytree(record.artifacts, tmp_path / "prod-artifacts")
        model = project / "models" / "staging" / "stg_orders.sql"
        model.write_text(model.read_text().replace(" as amount,", " as amount,  -- dollars"))
        monkeypatch.setenv("DBT_STATE", str(artifacts))
        monkeypatch.setenv("DBT_TARGET", "prod")
        _, slim = run(select=("state:modified+",))
        assert slim.status is RunStatus.SUCCEEDED, slim.error
        assert (slim.models, slim.steps) == (("customers", "orders", "stg_orders"), ())
        with connect(wh) as c:
            assert c.execute("select distinct deployment from analytics.customers") == [("prod",)]

        model.write_text(model.read_text().replace("    customer_id,", "    customer_idx,"))
        _, broken = run()
        assert broken.status is RunStatus.FAILED
        assert "unit test test_stg_orders_converts_cents on model stg_orders error" in broken.error
        assert "customer_idx" in broken.error
    finally:
        server = request.getfixturevalue("postgres_server") if made else None
        for name in made:
            with contextlib.suppress(Exception):
                server.drop_database(name)


def stacks(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, **(env or {}), "PUBLIC_SHOP_SOURCES": str(cwd / "sources")}
    for name in ("STACKS_WAREHOUSE", "DBT_TARGET", "DBT_STATE", "DBT_DEFER", "DBT_PROFILES_DIR"):
        full.pop(name, None)
    exe = Path(sys.executable).parent / "stacks"
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600
    )


def test_the_command_takes_a_target_and_shows_warnings_artifacts_and_docs(tmp_path) -> None:
    ref = f"{TESTS / 'public_stack.py'}:stack"
    run = stacks(tmp_path, "run", ref, "--target", "prod", "--threads", "2")
    assert run.returncode == 0, run.stderr
    # the summary: the warn test, the seed and the snapshot, where dbt's artifacts are
    assert "12 passed, 1 warned, 0 failed" in run.stdout
    assert "5 (and 1 seed, 1 snapshot)" in run.stdout
    artifacts = next(ln for ln in run.stdout.splitlines() if ln.startswith("artifacts"))
    target = Path(artifacts.split(None, 1)[1].strip())
    assert (target / "run_results.json").is_file()
    assert "deprecation: Found top-level arguments to test `relationships`" in run.stderr
    log = (target.parent / "logs" / "dbt.log").read_text()
    assert "Concurrency: 2 threads (target='prod')" in log  # --threads and --target reached dbt
    wh = DuckDBWarehouse(path=tmp_path / ".stacks" / "public-shop.duckdb")
    with connect(wh) as c:  # the project's macro took its prod branch
        assert c.execute("select distinct deployment from analytics.customers") == [("prod",)]
    (record,) = Ledger(wh).runs()

    shown = stacks(tmp_path, "runs", "show", record.run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["artifacts"], data["tests_warned"]) == (str(target), 1)
    text = stacks(tmp_path, "runs", "show", record.run_id)
    assert str(target) in text.stdout and "1 warned" in text.stdout
    missing = stacks(tmp_path, "runs", "show", "no-such-run")
    assert missing.returncode == 2 and "No run 'no-such-run'" in missing.stderr

    docs = stacks(tmp_path, "docs", ref, "--target", "prod")
    assert docs.returncode == 0, docs.stderr
    page = Path(docs.stdout.strip())
    assert page.name == "static_index.html" and "customers_snapshot" in page.read_text()


def test_check_after_a_source_change_leaves_the_snapshots_not_proved(tmp_path) -> None:
    """A snapshot's history is no rebuild's to reproduce: after a legitimate source change,
    `stacks check` names the snapshots as not proved and does not fail."""
    ref = f"{TESTS / 'public_stack.py'}:stack"
    first = stacks(tmp_path, "run", ref)
    assert first.returncode == 0, first.stderr
    rename_customer(tmp_path / "sources", 2, "Nguyen")
    check = stacks(tmp_path, "check", ref, "--runs", "2")
    shown = check.stdout + check.stderr
    assert check.returncode == 0, shown
    assert "FAILED" not in shown
    assert (
        "not proved for 2 snapshot(s): history cannot be rebuilt "
        "(analytics.customer_versions, analytics.customers_snapshot)"
    ) in " ".join(shown.split()), shown
