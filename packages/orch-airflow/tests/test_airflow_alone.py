"""Without the [dbt] extra: the package needs only the contract and Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

WITHOUT_EXTRA = """
import json, sys

class Blocked:
    # an install without the [dbt] extra (and without el-dlt); Cosmos itself stays importable
    # because its installed Airflow provider entry point is loaded by Airflow's provider discovery
    names = ("stacks_transform_dbt", "dbt", "stacks_el_dlt", "dlt")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocked())
from stacks_orch_airflow import build_dag
from stacks_orch_airflow.binding import Bound
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_testing.reference import reference_stack

spec = reference_stack(sys.argv[1])
dag = build_dag(spec, Bound(spec, DuckDBWarehouse(path=sys.argv[1] + "/w.duckdb")))
print(json.dumps(sorted(t.task_id for t in dag.tasks)))
"""


def test_required_dependencies_are_the_contract_the_runtime_and_airflow_only() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    names = {r.split(">")[0].split("[")[0].strip() for r in project["dependencies"]}
    assert names == {
        "stacks-contract",
        "stacks-core",
        "apache-airflow",
        "apache-airflow-providers-standard",
    }
    assert {"stacks-transform-dbt", "astronomer-cosmos"} <= {
        r.split(">")[0].strip() for r in project["optional-dependencies"]["dbt"]
    }


def test_without_the_dbt_extra_the_transform_is_one_task(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tasks == ["el_customers", "el_orders", "stacks_finish", "stacks_start", "transform_sql"]


def test_state_paths_are_the_default_airflow_home_only(tmp_path: Path, monkeypatch) -> None:
    """What `stacks clean` removes: ./.stacks/airflow, the home stacks made; never an
    AIRFLOW_HOME the user chose."""
    from stacks_contract.warehouse import DuckDBWarehouse
    from stacks_orch_airflow import AirflowOrchestrator
    from stacks_testing.reference import reference_stack

    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".stacks" / "airflow"
    home.mkdir(parents=True)
    spec = reference_stack(tmp_path / "src")
    wh = DuckDBWarehouse(path=tmp_path / "w.duckdb")
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    assert AirflowOrchestrator().state_paths(spec, wh) == (home,)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "mine"))
    assert AirflowOrchestrator().state_paths(spec, wh) == ()
