"""SIGKILL a real subprocess at named points inside dlt, re-run, and compare fingerprints.

The killed run is the second load (updates + new child rows on top of a first load), so a bad
recovery would show as duplicated or stale rows. ``before_load_commit`` is the dlt#4052 window:
every table's data and the pipeline state row are committed but the load is not (no
``_dlt_loads`` row); with ``lose_local_state`` the re-run also starts without dlt's working folder
(a new container, a wiped temp dir), restores the older state from the warehouse and re-extracts.
Merge on primary keys makes that re-load converge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_contract import RunRequest
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.fingerprint import diff
from stacks_el_dlt import DltStep
from stacks_testing.runner import warehouse_to_env

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns

CHILD = Path(__file__).with_name("eldlt_child.py")


child = sys.modules["eldlt_child"]  # loaded by conftest.py


def run_child(
    wh: Warehouse, data: Path, kill: str | None, log: Path
) -> subprocess.CompletedProcess:

    env = {**os.environ, **warehouse_to_env(wh), child.DATA_ENV: str(data)}
    if kill:
        env[child.KILL_ENV] = kill
    proc = subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=300
    )
    log.write_text(proc.stdout + proc.stderr)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "lose_local_state"),
    [
        ("after_extract", False),
        ("after_normalize", False),
        ("after_first_table", False),
        ("before_load_commit", False),
        ("before_load_commit", True),
        ("after_first_table", True),
    ],
)
def test_killed_load_converges_to_the_uninterrupted_fingerprint(
    point: str,
    lose_local_state: bool,
    warehouse: Warehouse,
    warehouse_factory,
    tmp_path: Path,
    _dlt_dir: Path,
) -> None:
    data = tmp_path / "orders.json"
    # reference: two uninterrupted loads (v0, then v1 with updates and new rows)
    reference = warehouse_factory()
    child.write_orders(data, 120, version=0)
    child.make_step(data).run(RunRequest(stack="ref"), reference)
    child.write_orders(data, 150, version=1)
    child.make_step(data).run(RunRequest(stack="ref"), reference)
    target = fingerprint(reference, metadata=META)
    assert target["raw.orders"].rows == 150

    # the same two loads, the second one killed in a subprocess
    child.write_orders(data, 120, version=0)
    child.make_step(data).run(RunRequest(stack="t"), warehouse)
    child.write_orders(data, 150, version=1)
    proc = run_child(warehouse, data, point, tmp_path / "killed.log")
    assert proc.returncode == -9, f"the child was not killed at {point}:\n{proc.stdout[-2000:]}"
    if lose_local_state:
        shutil.rmtree(_dlt_dir)
    result = child.make_step(data).run(RunRequest(stack="t"), warehouse)
    got = fingerprint(warehouse, metadata=META)
    assert got == target, f"{point}: " + "; ".join(diff(target, got))
    assert result.quarantined == {}


def test_uninterrupted_subprocess_run_matches_in_process(
    warehouse: Warehouse, warehouse_factory, tmp_path: Path
) -> None:
    data = tmp_path / "orders.json"
    child.write_orders(data, 60)
    proc = run_child(warehouse, data, None, tmp_path / "ok.log")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DONE" in proc.stdout
    other = warehouse_factory()
    child.make_step(data).run(RunRequest(stack="t"), other)
    assert fingerprint(warehouse, metadata=META) == fingerprint(other, metadata=META)
