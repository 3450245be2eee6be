"""`?schema=X` in the warehouse URL names the schema the EL steps load into. The shipped stacks'
steps choose their own (`raw`): each refuses another at once, exit 2 with the reason, before the
warehouse is touched (they used to load, then fail in dbt with exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STACKS = Path(sys.executable).parent / "stacks"


@pytest.mark.parametrize("stack", ["dagster-dlt-dbt", "temporal-dlt-dbt", "airflow-airbyte-dbt"])
def test_a_shipped_stack_refuses_a_schema_it_does_not_load_into(stack: str, tmp_path) -> None:
    target = tmp_path / "w.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "STACKS_WAREHOUSE"}
    proc = subprocess.run(
        [str(STACKS), "run", stack, "-w", f"duckdb://{target}?schema=landing"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    if stack == "airflow-airbyte-dbt":  # Airbyte loads where ?schema= says; dbt reads raw
        assert last == (
            "Error: The transform reads raw.customers, raw.orders, raw.payments, raw.products, "
            "which no EL step of stack 'airflow-airbyte-dbt' produces: the warehouse URL's "
            "?schema=landing moves where airflow-airbyte-dbt loads, not what its models read; "
            "drop ?schema= from the URL."
        )
    else:
        assert last == (
            f"Error: {stack} loads its raw tables into the schema raw, not 'landing' as the "
            "warehouse URL's ?schema= asks; drop ?schema= from the URL (its steps choose their "
            "schema)."
        )
    assert not target.exists() and not (tmp_path / ".stacks").exists()
