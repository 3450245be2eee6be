"""The README's commands, as a user runs them: `stacks run` twice, `stacks check`, and
`dagster definitions validate` for the UI's code location. Subprocesses, DuckDB in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_contract.models import RunStatus
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.fingerprint import fingerprint
from stacks_core.ledger import Ledger
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_orch_dagster import write_dagster_home

BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE")}
    env["DAGSTER_HOME"] = str(write_dagster_home(tmp_path / "dagster_home"))
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "STACKS_WAREHOUSE": str(tmp_path / "ui.duckdb")}
    proc = _run(
        [
            str(BIN / "dagster"),
            "definitions",
            "validate",
            "-m",
            "stacks_dagster_dlt_dbt.definitions",
        ],
        tmp_path,
        env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "All code locations passed validation" in out


@pytest.mark.slow
def test_stacks_run_twice_then_check(tmp_path: Path) -> None:
    env = _env(tmp_path)
    stacks = str(BIN / "stacks")
    first = _run([stacks, "run", "dagster-dlt-dbt"], tmp_path, env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "raw.orders " in first.stdout and "446" in first.stdout, first.stdout
    assert "Open the Dagster UI: uv run stacks ui dagster-dlt-dbt" in first.stdout
    warehouse = DuckDBWarehouse(path=tmp_path / ".stacks" / "dagster-dlt-dbt.duckdb")
    once = fingerprint(warehouse, metadata=("_dlt_*",))

    second = _run([stacks, "run", "dagster-dlt-dbt"], tmp_path, env)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert fingerprint(warehouse, metadata=("_dlt_*",)) == once, (
        "a second run changed the warehouse"
    )
    runs = Ledger(warehouse).runs("dagster-dlt-dbt")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
    assert sum(runs[0].rows.values()) == 446 and sum(runs[1].rows.values()) == 0

    # --advance 3: the shop moves on (new orders, refunds) between runs
    check = _run(
        [stacks, "check", "dagster-dlt-dbt", "--runs", "2", "--advance", "3"], tmp_path, env
    )
    assert check.returncode == 0, (check.stdout + check.stderr)[-3000:]
    assert "is idempotent" in check.stdout
    # and proved more than a no-op: the shop re-delivered and every model rebuilt from scratch
    # (into a scratch DuckDB file) equal what the incremental runs left over new data
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert any(x.startswith("proved     re-delivery: 4 raw table(s), 553 rows") for x in lines)
    assert any(
        x.startswith("proved     full rebuild: 8 model table(s)")
        and x.endswith("took the incremental path (fct_orders in 3 run(s))")
        for x in lines
    ), lines
    assert [p.name for p in (tmp_path / ".stacks").iterdir() if ".check" in p.name] == []

    # `stacks clean`: dlt's working folder and dbt's state for this warehouse go, the data stays
    clean = _run([stacks, "clean", "dagster-dlt-dbt"], tmp_path, env)
    assert clean.returncode == 0, (clean.stdout + clean.stderr)[-3000:]
    removed = [line.split()[-1] for line in clean.stdout.splitlines()[1:]]
    assert any("/dlt/duckdb-" in p for p in removed), clean.stdout
    assert any(p.startswith(str(tmp_path / ".stacks" / "dbt" / "shop-")) for p in removed)
    assert not any(Path(p).exists() for p in removed)
    assert [r.status for r in Ledger(warehouse).runs("dagster-dlt-dbt")] == [
        RunStatus.SUCCEEDED
    ] * 7  # the two runs and check's five: the rebuild went to the scratch warehouse
