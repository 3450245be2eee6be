"""A long extract is not silent: dlt's own counts reach the run's reporter as lines, rows per
table so far, then the stage's total; a short run adds no line."""

from __future__ import annotations

import time
from typing import Any

from stacks_contract.models import RunRequest
from stacks_el_dlt import DltStep, progress


def slow_events() -> Any:
    import dlt

    @dlt.resource(name="events", primary_key="id", write_disposition="merge")
    def events() -> Any:
        for page in range(8):
            time.sleep(0.15)  # a slow source: about a second of extract
            yield [{"id": page * 100 + i, "value": i} for i in range(100)]

    return events()


def test_a_long_extract_reports_its_rows_while_it_runs(duckdb_warehouse, monkeypatch) -> None:
    monkeypatch.setattr(progress, "EVERY", 0.2)
    lines: list[tuple[str, str]] = []
    step = DltStep("events", slow_events)
    result = step.run(RunRequest(stack="t"), duckdb_warehouse, lambda s, m: lines.append((s, m)))
    assert {s for s, _ in lines} == {"events"}
    extract = [m for _, m in lines if m.startswith("extract: ")]
    assert len(extract) >= 3, lines
    assert all(m.endswith(")") and " rows so far (events " in m for m in extract[:-1]), extract
    assert extract[-1] == "extract: 800 rows (events 800)"
    counts = [int(m.split()[1].replace(",", "")) for m in extract]
    assert counts == sorted(counts) and counts[0] < 800
    assert result.rows == {"raw.events": 800}


def test_a_short_run_adds_no_progress_line(duckdb_warehouse, monkeypatch) -> None:
    monkeypatch.setattr(progress, "EVERY", 60.0)  # the whole run is shorter than a line's wait
    lines: list[str] = []
    step = DltStep("events", slow_events)
    step.run(RunRequest(stack="t"), duckdb_warehouse, lambda s, m: lines.append(m))
    assert not [m for m in lines if m.startswith(("extract:", "normalize:", "load:"))], lines
