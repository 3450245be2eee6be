"""Crash windows in el-dlt's own recovery, replayed at fixed points (no timing).

A run that finds a pending load package (left by a killed run) wipes dlt's working folder and
restores state from the warehouse (``DltStep.dlt_pipeline``). The conformance suite's random
SIGKILLs once hit that wipe itself (seed 701097, DuckDB, under load): the kill landed after
``rmtree`` had removed the pending package but before it reached ``state.json``. The next run
saw nothing pending, kept the killed extract's cursor, extracted nothing, and ``raw.orders``
stayed empty. Here the same two kills happen at named points (see ``eldlt_child.py``).
"""

from __future__ import annotations

import json
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
from stacks_el_dlt.destination import pipelines_dir
from stacks_testing.runner import warehouse_to_env

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns

CHILD = Path(__file__).with_name("eldlt_child.py")


child = sys.modules["eldlt_child"]  # loaded by conftest.py


def kill_child(wh: Warehouse, data: Path, point: str, log: Path) -> None:
    env = {**os.environ, **warehouse_to_env(wh), child.DATA_ENV: str(data), child.KILL_ENV: point}
    proc = subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=300
    )
    log.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == -9, f"the child was not killed at {point}:\n{proc.stderr[-2000:]}"


def working_folder(wh: Warehouse) -> Path:
    step = child.make_step(Path("unused.json"))
    return pipelines_dir(wh.with_schema(step.dataset)) / step.pipeline_name


def pending_packages(folder: Path) -> list[str]:
    return sorted(
        p.name
        for sub in ("normalize/extracted", "load/normalized")
        if (folder / sub).is_dir()
        for p in (folder / sub).iterdir()
    )


def local_cursor(folder: Path) -> object:
    """The orders cursor in dlt's local state file; None without one (or without the file)."""
    path = folder / "state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    resource = state.get("sources", {}).get("orders", {}).get("resources", {}).get("orders", {})
    return resource.get("incremental", {}).get("updated_at", {}).get("last_value")


@pytest.mark.slow
def test_kill_while_wiping_a_killed_load_still_converges(
    warehouse: Warehouse, warehouse_factory, tmp_path: Path
) -> None:
    data = tmp_path / "orders.json"
    child.write_orders(data, 80)
    reference = warehouse_factory()
    child.make_step(data).run(RunRequest(stack="ref"), reference)
    target = fingerprint(reference, metadata=META)
    assert target["raw.orders"].rows == 80

    # 1. killed mid-load: a pending package, the cursor advanced in the local state only
    kill_child(warehouse, data, "after_first_table", tmp_path / "kill1.log")
    folder = working_folder(warehouse)
    assert pending_packages(folder), "the first kill left no pending package to wipe"
    assert local_cursor(folder) == 1

    # 2. the next run killed inside the wipe, right after the pending package folder went
    kill_child(warehouse, data, "during_drop", tmp_path / "kill2.log")
    # the killed extract's cursor with no package left to load: the window (a fresh state.json,
    # written when dlt re-creates the folder, has no cursor)
    orphaned = local_cursor(folder) is not None and not pending_packages(folder)

    # 3. a clean run re-extracts what was never committed
    result = child.make_step(data).run(RunRequest(stack="t"), warehouse)
    got = fingerprint(warehouse, metadata=META)
    assert got == target, "; ".join(diff(target, got)) + (
        " (the wipe left the killed extract's cursor without its package)" if orphaned else ""
    )
    assert not orphaned
    assert result.rows == {"raw.orders": 80, "raw.orders__items": 120}
    # and the folder moved aside for the wipe is gone
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def loaded_once(wh: Warehouse, tmp_path: Path) -> tuple[Path, object, Path]:
    """30 orders loaded by one clean run: the data file, the warehouse's fingerprint, and the
    step's working folder."""
    data = tmp_path / "orders.json"
    child.write_orders(data, 30)
    child.make_step(data).run(RunRequest(stack="t"), wh)
    return data, fingerprint(wh, metadata=META), working_folder(wh)


def test_folder_left_by_a_killed_wipe_is_removed_and_ignored(
    duckdb_warehouse: Warehouse, tmp_path: Path
) -> None:
    wh = duckdb_warehouse
    data, before, folder = loaded_once(wh, tmp_path)
    # what a kill during the rmtree of a moved-aside working folder leaves: a partial copy
    leftover = folder.with_name(f".stacks-dropped-{folder.name}-0123456789ab")
    shutil.copytree(folder, leftover)
    shutil.rmtree(leftover / "load")

    result = child.make_step(data).run(RunRequest(stack="t"), wh)
    assert not leftover.exists()
    assert result.total_rows == 0  # the incremental cursor still comes from the real folder
    assert fingerprint(wh, metadata=META) == before


def test_a_working_folder_half_made_by_a_killed_run_is_wiped(
    duckdb_warehouse: Warehouse, tmp_path: Path
) -> None:
    """dlt makes ``load/`` (and its version file) before ``load/normalized/``: a run killed in
    between leaves a folder every later run failed to list (FileNotFoundError, seen in the
    Dagster fault matrix). It is a cache of the warehouse, so the next run wipes it."""
    wh = duckdb_warehouse
    data, before, folder = loaded_once(wh, tmp_path)
    shutil.rmtree(folder / "load" / "normalized")

    result = child.make_step(data).run(RunRequest(stack="t"), wh)
    assert (folder / "load" / "normalized").is_dir()
    assert result.total_rows == 0  # the cursor restored from the warehouse: nothing new
    assert fingerprint(wh, metadata=META) == before
