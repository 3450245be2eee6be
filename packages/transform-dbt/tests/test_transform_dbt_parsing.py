"""A second run does not parse the project again: in-process (the manifest stays in memory) and
across processes (dbt's partial-parse state survives, because the run id is not a parse var)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stacks_contract.models import RunRequest
from stacks_testing.runner import warehouse_to_env
from stacks_transform_dbt import DbtTransform

HERE = Path(__file__).parent


def test_second_run_in_process_does_not_parse(warehouse, project_dir, shop, monkeypatch):
    from dbt.parser.manifest import ManifestLoader

    shop.seed(warehouse)
    loads: list[str] = []
    original = ManifestLoader.load

    def counting(self, *args, **kwargs):
        loads.append("load")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ManifestLoader, "load", counting)
    t = DbtTransform(project_dir)
    t.run(RunRequest(stack="t"), warehouse)
    assert len(loads) == 1 and t.last_parse in {"full", "partial", "skipped"}
    # a fresh object (as an orchestrator would build) reuses the parsed manifest too
    again = DbtTransform(project_dir)
    result = again.run(RunRequest(stack="t"), warehouse)
    assert result.ok
    assert len(loads) == 1 and again.last_parse == "memory"


def test_changed_project_file_is_parsed_again(duckdb_warehouse, shop, tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(HERE / "project", project)
    shop.seed(duckdb_warehouse)
    t = DbtTransform(project)
    t.run(RunRequest(stack="t"), duckdb_warehouse)
    model = project / "models" / "marts" / "customer_revenue.sql"
    model.write_text(model.read_text().replace("count(o.id) as orders", "count(o.id) as n_orders"))
    t.run(RunRequest(stack="t"), duckdb_warehouse)
    assert t.last_parse == "partial"
    from stacks_core.sql import connect

    with connect(duckdb_warehouse) as c:
        assert "n_orders" in c.columns("analytics", "customer_revenue")


RUN_IN_SUBPROCESS = """
import json, sys
from stacks_contract.models import RunRequest
from stacks_testing.runner import load_factory, warehouse_from_env
t = load_factory(sys.argv[1])()
r = t.run(RunRequest(stack="t", run_id=sys.argv[2]), warehouse_from_env())
print(json.dumps({"parse": t.last_parse, "ok": r.ok}))
"""


def test_second_process_skips_parsing(warehouse, project_dir, shop):
    shop.seed(warehouse)
    env = {**os.environ, **warehouse_to_env(warehouse)}
    factory = f"{HERE / 'factory_shop.py'}:make"

    def run(run_id: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", RUN_IN_SUBPROCESS, factory, run_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    state = DbtTransform(project_dir).state_dir(warehouse) / "target" / "partial_parse.msgpack"
    first = run("run-1")
    assert first == {"parse": "full", "ok": True}
    written = state.stat().st_mtime_ns
    # another process, another run id: dbt finds nothing changed and does not parse
    second = run("run-2")
    assert second == {"parse": "skipped", "ok": True}
    assert state.stat().st_mtime_ns == written
