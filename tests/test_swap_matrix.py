"""The swap matrix: the demo shop through {el-dlt, el-airbyte} x transform-dbt x {Local, Dagster,
Airflow, Temporal}, on DuckDB and on Postgres: 16 cells. In each, three runs leave the warehouse
as one run did and a changed source row is updated, not duplicated; across all 16, the marts are
one and the same data (a portable fingerprint, whichever EL tool, orchestrator or engine).

The table of cells is printed at the end and written to ``.stacks/swap-matrix.md`` at the
repository's root (or ``$STACKS_SWAP_MATRIX_REPORT``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_contract.warehouse import Warehouse
from stacks_core.fingerprint import diff
from stacks_orch_temporal import DevServer
from swapmatrix import ELS, ORCHESTRATORS, Cell, run_cell, table

ROOT = Path(__file__).resolve().parents[1]
CELLS: dict[str, list[Cell]] = {}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def temporal() -> Iterator[DevServer]:
    with DevServer(ui=False) as server:
        yield server


def _report() -> Path:
    cells = [c for kind in ("duckdb", "postgres") for c in CELLS.get(kind, [])]
    path = Path(os.environ.get("STACKS_SWAP_MATRIX_REPORT") or ROOT / ".stacks" / "swap-matrix.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# The swap matrix\n\n" + table(cells) + "\n")
    return path


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"], indirect=True)
def test_eight_cells_on_one_warehouse_engine(
    warehouse: Warehouse,
    warehouse_factory,
    temporal: DevServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kind = warehouse.kind  # warehouse_factory makes fresh ones of this kind
    cells = CELLS[kind] = [Cell(el, orch, kind) for el in ELS for orch in ORCHESTRATORS]
    failed = []
    for cell in cells:
        try:
            run_cell(cell, warehouse_factory(), lambda: temporal.address, monkeypatch.setenv)
        except AssertionError:
            failed.append(cell.name)
    with capsys.disabled():
        print(f"\nswap matrix on {kind}:\n{table(cells)}\nwritten to {_report()}\n")
    assert not failed, f"cells failed: {failed} (see the table above)"
    first = cells[0]
    for cell in cells[1:]:
        assert cell.marts == first.marts, f"{cell.name}: {diff(first.marts, cell.marts)}"
        assert cell.marts_changed == first.marts_changed, cell.name


def test_one_marts_fingerprint_across_both_engines() -> None:
    """Runs after the two tests above (file order): the DuckDB and the Postgres cells agree."""
    missing = [k for k in ("duckdb", "postgres") if k not in CELLS]
    assert not missing, f"the {missing} cells did not run in this session"
    duck, pg = CELLS["duckdb"][0], CELLS["postgres"][0]
    assert duck.marts is not None and duck.marts == pg.marts, diff(duck.marts or {}, pg.marts)
    assert duck.marts_changed == pg.marts_changed
