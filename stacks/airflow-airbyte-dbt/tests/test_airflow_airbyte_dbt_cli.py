"""The README's commands as a user runs them on a fresh checkout: no AIRBYTE_SERVER_URL, so
`stacks run` starts the local Airbyte engine (and a demo shop) for the run and stops them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_airflow_airbyte_dbt.stack import NAME, SERVER_ENV, SHOP_URL_ENV
from stacks_contract.models import RunStatus
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from stacks_core.fingerprint import fingerprint
from stacks_core.ledger import Ledger

BIN = Path(sys.executable).parent
META = ("_airbyte_*",)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    drop = (SHOP_URL_ENV, "STACKS_WAREHOUSE", SERVER_ENV)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_stacks_run_twice_then_check(tmp_path: Path, warehouse: Warehouse) -> None:
    stacks = str(BIN / "stacks")
    where: list[str] = []
    if isinstance(warehouse, PostgresWarehouse):
        where = ["-w", warehouse.url()]
    else:  # the default: DuckDB under ./.stacks/
        warehouse = DuckDBWarehouse(path=tmp_path / ".stacks" / f"{NAME}.duckdb")
    first = _run([stacks, "run", NAME, *where], tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "raw.orders " in first.stdout and "446" in first.stdout, first.stdout
    assert "Airbyte (local engine): public API at http://127.0.0.1:" in first.stderr
    once = fingerprint(warehouse, metadata=META)

    second = _run([stacks, "run", NAME, *where], tmp_path)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert fingerprint(warehouse, metadata=META) == once, "a second run changed the data"
    runs = Ledger(warehouse).runs(NAME)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
    assert sum(runs[0].rows.values()) == 446 and sum(runs[1].rows.values()) == 0

    # --advance 3, as the README and the other shop stacks: the shop moves on (new orders,
    # refunds) between runs; Airbyte cannot re-deliver into a scratch warehouse, so the models
    # are rebuilt from a copy of its tables
    check = _run([stacks, "check", NAME, "--runs", "2", "--advance", "3", *where], tmp_path)
    assert check.returncode == 0, (check.stdout + check.stderr)[-3000:]
    assert f"{NAME} is idempotent" in check.stdout
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert any(x.startswith("not proved re-delivery: EL step 'shop' writes where") for x in lines)
    assert any(
        x.startswith("proved     full rebuild: 8 model table(s)")
        and x.endswith("took the incremental path (fct_orders in 3 run(s))")
        for x in lines
    ), lines
