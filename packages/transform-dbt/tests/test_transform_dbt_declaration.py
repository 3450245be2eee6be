"""A transform's table manifest (what it reads and builds, its nodes) in a later process comes
from disk without importing dbt while the project is unchanged (`stacks plan` stays fast); a
changed model file is parsed again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

DECLARE = """
import json, sys
from stacks_transform_dbt import DbtTransform

t = DbtTransform(sys.argv[1], state_dir=sys.argv[2])
print(json.dumps({
    "consumes": [x.key for x in t.consumes()],
    "produces": [x.key for x in t.produces()],
    "nodes": {n.name: list(n.depends_on) for n in t.nodes()},
    "stamped": [x.key for x in t.stamped()],
    "dbt imported": any(m == "dbt" or m.startswith("dbt.") for m in sys.modules),
}))
"""


def declare(project: Path, state: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", DECLARE, str(project), str(state)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_later_process_declares_without_dbt_until_a_model_changes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(HERE / "project", project, ignore=shutil.ignore_patterns("target", "logs"))
    first = declare(project, tmp_path / "state")
    assert first.pop("dbt imported") is True  # nothing stored yet: a parse
    assert "raw.orders" in first["consumes"] and "analytics.customer_revenue" in first["produces"]

    second = declare(project, tmp_path / "state")
    assert second.pop("dbt imported") is False
    assert second == first

    model = project / "models" / "marts" / "top_customers.sql"
    model.write_text("select customer_id from {{ ref('customer_revenue') }}\n")
    changed = declare(project, tmp_path / "state")
    assert changed.pop("dbt imported") is True
    assert changed["nodes"]["top_customers"] == ["customer_revenue"]
    assert "analytics.top_customers" in changed["produces"]
