"""dlt's per-warehouse working folders: declared for `stacks clean`, marked used by a run, and
pruned when no run used them for longer than the bound (STACKS_STATE_MAX_AGE_DAYS)."""

from __future__ import annotations

import os
import time

import dlt
import stacks_core.state as state
from stacks_contract import RunRequest
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_el_dlt import DltStep


def factory():
    return dlt.resource([{"id": 1}], name="t", primary_key="id")


def test_a_run_prunes_other_warehouses_folders_unused_for_longer_than_the_bound(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(state, "_PRUNED", set())
    monkeypatch.setenv(state.MAX_AGE_ENV, "30")
    base = tmp_path / "dlt"
    step = DltStep("s", factory, pipelines_base_dir=base)
    gone = DuckDBWarehouse(path=tmp_path / "deleted-long-ago.duckdb")
    recent = DuckDBWarehouse(path=tmp_path / "used-last-week.duckdb")
    wh = DuckDBWarehouse(path=tmp_path / "wh.duckdb")
    for old, days in ((gone, 40), (recent, 7)):
        [folder] = step.state_paths(old)
        (folder / "stacks_s").mkdir(parents=True)
        then = time.time() - days * 86400
        os.utime(folder, (then, then))
    step.run(RunRequest(stack="t"), wh)
    [mine] = step.state_paths(wh)
    assert mine.is_dir() and mine.parent == base
    assert not step.state_paths(gone)[0].exists()
    assert step.state_paths(recent)[0].exists()
