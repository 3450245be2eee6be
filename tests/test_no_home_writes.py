"""A stack's EL step run in the root environment (where Airflow is installed beside dlt) writes
nothing into the user's home: dlt would otherwise import Airflow and create ~/airflow/airflow.db."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import dlt
from stacks_contract.models import RunRequest
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_el_dlt import DltStep

@dlt.resource(primary_key="id", write_disposition="merge")
def things():
    yield [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]

step = DltStep("things", lambda: things(), pipelines_base_dir="{work}/dlt")
result = step.run(RunRequest(stack="t"), DuckDBWarehouse(path="{work}/w.duckdb"))
print(result.rows)
"""


def test_an_el_run_beside_airflow_leaves_home_untouched(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PROVIDERS__"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(work / "xdg"))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("{work}", str(work))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'raw.things': 2" in proc.stdout
    assert not (home / "airflow").exists(), "dlt imported Airflow and wrote ~/airflow"
