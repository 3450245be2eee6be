"""Raw tables dropped behind the steps' backs come back on the next run (issue 15, item 6).

Several steps share one dataset: dropping the whole schema, or one table, is noticed and that
step reloads from its source, with no local folder deleted by hand and no file touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from stacks_contract.models import RunRequest, new_run_id
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect
from stacks_el_dlt import FilesStep

ROWS = {"deliveries": 6, "returns": 4}


def _steps(tmp_path: Path) -> list[FilesStep]:
    steps = []
    for table, n in ROWS.items():
        folder = tmp_path / table
        folder.mkdir()
        lines = (json.dumps({"id": i, "qty": i * 10}) for i in range(n))
        (folder / "day1.jsonl").write_text("\n".join(lines) + "\n")
        key = "id" if table == "deliveries" else None  # merge and append both recover
        steps.append(FilesStep(folder, table=table, pattern="*.jsonl", primary_key=key))
    return steps


def _run_all(steps: list[FilesStep], warehouse: Warehouse) -> tuple[dict[str, int], list[str]]:
    said: list[str] = []
    reported: dict[str, int] = {}
    for step in steps:
        request = RunRequest(run_id=new_run_id(), stack="recovery")
        result = step.run(request, warehouse, lambda s, m: said.append(f"{s}: {m}"))
        reported.update(result.rows)
    return reported, said


def _counts(warehouse: Warehouse) -> dict[str, int]:
    with connect(warehouse) as conn:
        present = {t for _, t in conn.tables("raw")}
        return {t: conn.count("raw", t) for t in ROWS if t in present}


def test_dropped_schema_and_dropped_table_are_reloaded(tmp_path: Path, warehouse: Warehouse):
    steps = _steps(tmp_path)
    _run_all(steps, warehouse)
    assert _counts(warehouse) == ROWS

    with connect(warehouse) as conn:
        conn.execute("drop schema raw cascade")
    reported, said = _run_all(steps, warehouse)
    assert _counts(warehouse) == ROWS, said
    assert reported == {f"raw.{t}": n for t, n in ROWS.items()}

    with connect(warehouse) as conn:
        conn.execute("drop table raw.returns")
    reported, said = _run_all(steps, warehouse)
    assert _counts(warehouse) == ROWS, said
    assert reported == {"raw.returns": 4}
    assert "files_returns: raw.returns missing in the warehouse: reloading" in "\n".join(said)

    reported, _ = _run_all(steps, warehouse)  # and then back to incremental no-ops
    assert reported == {} and _counts(warehouse) == ROWS
