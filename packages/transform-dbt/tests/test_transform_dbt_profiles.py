"""The dbt profile is rendered from the warehouse; the password never reaches the disk."""

from __future__ import annotations

import yaml
from pydantic import SecretStr
from stacks_contract.errors import StacksError
from stacks_contract.models import RunRequest
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, parse_warehouse
from stacks_core.sql import connect
from stacks_transform_dbt import PASSWORD_ENV, DbtTransform, render_profile

SECRET = "s3cret-Pa55-word!"


def test_postgres_profile_holds_an_env_reference_not_the_password(
    postgres_warehouse, project_dir, shop, tmp_path
):
    # trust auth on the test cluster accepts any password, so a run still proves the wiring
    wh = postgres_warehouse.model_copy(update={"password": SecretStr(SECRET)})
    shop.seed(wh)
    t = DbtTransform(project_dir, state_dir=tmp_path / "state", threads=2)
    inv = t.invocation(wh, RunRequest(stack="t"))

    text = (inv.profiles_dir / "profiles.yml").read_text()
    out = yaml.safe_load(text)["shop_test"]["outputs"][inv.target]
    assert out["type"] == "postgres"
    assert (out["host"], out["port"], out["dbname"]) == (wh.host, wh.port, wh.database)
    assert out["schema"] == "analytics" and out["threads"] == 2
    assert out["password"] == "{{ env_var('" + PASSWORD_ENV + "', '') }}"
    assert inv.env[PASSWORD_ENV] == SECRET
    assert SECRET not in repr(inv)

    result = t.run(RunRequest(stack="t"), wh)
    assert result.ok
    # nothing dbt or stacks wrote (profile, target/, logs/) holds the secret in clear
    written = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert any(p.name == "run_results.json" for p in written)
    for p in written:
        assert SECRET.encode() not in p.read_bytes(), p


def test_duckdb_profile_points_at_the_file(duckdb_warehouse, project_dir, tmp_path):
    t = DbtTransform(project_dir, schema="marts", threads=3, state_dir=tmp_path)
    inv = t.invocation(duckdb_warehouse, RunRequest(stack="t"))
    out = yaml.safe_load((inv.profiles_dir / "profiles.yml").read_text())["shop_test"]
    target = out["outputs"][out["target"]]
    assert target["type"] == "duckdb"
    assert target["path"] == str(duckdb_warehouse.path)
    assert (target["schema"], target["threads"]) == ("marts", 3)
    assert PASSWORD_ENV not in inv.env


def test_two_warehouses_get_separate_state(duckdb_warehouse, project_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("STACKS_DBT_STATE_DIR")
    other = DuckDBWarehouse(path=tmp_path / "other.duckdb")
    t = DbtTransform(project_dir)
    a, b = t.state_dir(duckdb_warehouse), t.state_dir(other)
    assert a != b
    # by default beside the DuckDB file, never inside the dbt project
    assert a.is_relative_to(duckdb_warehouse.path.parent)
    assert not a.is_relative_to(project_dir)


def test_special_characters_survive_rendering(tmp_path):
    wh = PostgresWarehouse(host="db.example", database="we'ird: db", user="u#1")
    out = yaml.safe_load(render_profile(wh, profile="p", schema="s"))["p"]["outputs"]["stacks"]
    assert (out["dbname"], out["user"]) == ("we'ird: db", "u#1")


def test_run_with_the_rendered_profile_reaches_postgres(postgres_warehouse, project_dir, shop):
    shop.seed(postgres_warehouse)
    DbtTransform(project_dir).run(RunRequest(stack="t"), postgres_warehouse)
    with connect(postgres_warehouse) as c:
        assert c.count("analytics", "customer_revenue") == 5


def test_libpq_parameters_of_the_url_reach_dbt(postgres_warehouse, project_dir, shop, tmp_path):
    """sslmode and application_name are profile fields; options (no field in dbt-postgres)
    travels as libpq's PGOPTIONS. A real run proves dbt accepts them all."""
    wh = parse_warehouse(
        postgres_warehouse.url()
        + "?sslmode=disable&application_name=stacks-dbt&options=-c%20work_mem%3D7MB"
    )
    shop.seed(wh)
    t = DbtTransform(project_dir, state_dir=tmp_path / "state")
    inv = t.invocation(wh, RunRequest(stack="t"))
    out = yaml.safe_load((inv.profiles_dir / "profiles.yml").read_text())["shop_test"]
    target = out["outputs"][out["target"]]
    assert (target["sslmode"], target["application_name"]) == ("disable", "stacks-dbt")
    assert "options" not in target and inv.env["PGOPTIONS"] == "-c work_mem=7MB"
    assert t.run(RunRequest(stack="t"), wh).ok
    with connect(wh) as c:
        assert c.count("analytics", "customer_revenue") == 5
    refused = parse_warehouse(postgres_warehouse.url() + "?sslmode=require")
    try:  # the test cluster has no SSL: dbt must fail saying so
        result = t.run(RunRequest(stack="t"), refused)
    except StacksError as exc:
        message = str(exc)
    else:
        assert not result.ok, "dbt ignored sslmode=require"
        message = result.model_dump_json()
    assert "SSL" in message, message


def test_shared_state_is_private_and_never_another_users(project_dir, tmp_path, monkeypatch):
    """dbt's state for a server warehouse lives under $TMPDIR/stacks-dbt-<uid>: created 0700,
    and refused when somebody else created it first (a predictable shared path)."""
    import os
    import stat

    import pytest
    from stacks_contract.errors import ConfigError
    from stacks_contract.warehouse import parse_warehouse

    monkeypatch.delenv("STACKS_DBT_STATE_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    pg = parse_warehouse("postgresql://u@db.example/shop")
    state = DbtTransform(project_dir).state_dir(pg)
    root = tmp_path / f"stacks-dbt-{os.getuid()}"
    assert state.parent == root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    # the same path, as seen by another user id: the folder is not theirs
    monkeypatch.setattr(os, "getuid", lambda: os.stat(root).st_uid + 4242)
    (tmp_path / f"stacks-dbt-{os.stat(root).st_uid + 4242}").mkdir(mode=0o777)
    with pytest.raises(ConfigError, match="belongs to another user"):
        DbtTransform(project_dir).state_dir(pg)


def test_state_is_declared_and_stale_state_of_other_warehouses_is_pruned(
    duckdb_warehouse, project_dir, tmp_path, monkeypatch
):
    """What `stacks clean` removes is the state folder a run uses; a run marks it used and
    removes sibling folders no run used for longer than STACKS_STATE_MAX_AGE_DAYS."""
    import os
    import time

    import stacks_core.state as state

    monkeypatch.setattr(state, "_PRUNED", set())
    monkeypatch.setenv(state.MAX_AGE_ENV, "30")
    t = DbtTransform(project_dir, state_dir=tmp_path / "dbt")
    gone = DuckDBWarehouse(path=tmp_path / "gone.duckdb")
    [stale] = t.state_paths(gone)
    (stale / "target").mkdir(parents=True)
    then = time.time() - 31 * 86400
    os.utime(stale, (then, then))
    inv = t.invocation(duckdb_warehouse, RunRequest(stack="t"))
    assert t.state_paths(duckdb_warehouse) == (inv.target_path.parent,)
    assert not stale.exists()


def test_a_windowed_run_gives_dbt_the_window_as_vars(duckdb_warehouse, project_dir, tmp_path):
    """``RunRequest.window`` (``stacks run --window``, an Airflow backfill) reaches dbt as the
    ``stacks_window_start`` / ``stacks_window_end`` vars; a run without one has neither."""
    from datetime import UTC, datetime

    from stacks_contract.models import Window

    t = DbtTransform(project_dir, state_dir=tmp_path)
    window = Window(start=datetime(2026, 12, 1, tzinfo=UTC), end=datetime(2026, 12, 2, tzinfo=UTC))
    inv = t.invocation(duckdb_warehouse, RunRequest(stack="t", window=window))
    assert inv.vars["stacks_window_start"] == "2026-12-01T00:00:00+00:00"
    assert inv.vars["stacks_window_end"] == "2026-12-02T00:00:00+00:00"
    plain = t.invocation(duckdb_warehouse, RunRequest(stack="t"))
    assert not {"stacks_window_start", "stacks_window_end"} & set(plain.vars)
