"""What a user sees on stderr during ``stacks run`` of a stack under Airflow: the Reporter's
progress lines, not Airflow's, Cosmos's or alembic's INFO logging (``-v`` brings it back); a
failing task still says what failed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from stacks_contract.warehouse import DuckDBWarehouse
from stacks_testing.reference import seed_sources

STACKS = str(Path(sys.executable).with_name("stacks"))
#: a structlog/stdlib INFO line as Airflow renders it, or alembic's migration chatter
_INTERNAL_INFO = re.compile(r"\[info\s*\]|INFO\s+\[alembic|\[DAG TEST\]|Task instance state")


def _run(tmp_path: Path, warehouse: DuckDBWarehouse, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STACKS, *flags, "run", "airflow-ref", "--warehouse", f"duckdb:///{warehouse.path}"],
        env=dict(os.environ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_stacks_run_shows_progress_lines_and_no_airflow_logging(
    installed_stacks, tmp_path: Path, duckdb_warehouse: DuckDBWarehouse
) -> None:
    proc = _run(tmp_path, duckdb_warehouse)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "running DAG airflow-ref" in proc.stderr
    assert "run succeeded" in proc.stderr
    noise = [line for line in proc.stderr.splitlines() if _INTERNAL_INFO.search(line)]
    assert noise == [], "\n".join(noise[:20])


def test_a_failing_task_is_still_visible_and_verbose_brings_airflow_logging_back(
    installed_stacks, tmp_path: Path, duckdb_warehouse: DuckDBWarehouse
) -> None:
    sources = seed_sources(Path(os.environ["STACKS_TEST_SOURCES"]))
    sources["orders"].write_text("this is not JSON\n")

    quiet = _run(tmp_path, duckdb_warehouse)
    assert quiet.returncode != 0
    assert re.search(
        r"'orders' failed: line 1 of .*orders.jsonl is not valid JSON", quiet.stderr
    ), quiet.stderr[-3000:]
    assert not [line for line in quiet.stderr.splitlines() if _INTERNAL_INFO.search(line)]

    verbose = _run(tmp_path, duckdb_warehouse, "-v")
    assert verbose.returncode != 0
    assert "[DAG TEST]" in verbose.stderr, verbose.stderr[-3000:]
    assert re.search(r"'orders' failed: line 1 of .*orders.jsonl is not valid JSON", verbose.stderr)
