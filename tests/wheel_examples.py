"""The small example each member's wheel must run in a fresh venv holding only that wheel and its
declared dependencies (``tests/test_wheel_install.py``): bash, with the venv's ``bin`` first on
PATH and a fresh working folder. ``STEP`` is written there as ``wheel_step.py`` first: a tool-free
EL step for the orchestrator packages, which need a stack to run but depend on no EL package."""

from __future__ import annotations

STEP = """
from datetime import UTC, datetime

import duckdb
from stacks_contract import ELStep, LoadResult, StackSpec, TableRef


class Numbers(ELStep):
    name = "numbers"

    def produces(self):
        return (TableRef(schema="raw", name="numbers"),)

    def run(self, request, warehouse, report=None):
        started = datetime.now(UTC)
        with duckdb.connect(str(warehouse.path)) as con:
            con.sql("create schema if not exists raw")
            con.sql(
                "create or replace table raw.numbers as select range as n, "
                f"'{request.run_id}' as _stacks_run_id from range(3)"
            )
        return LoadResult(step=self.name, run_id=request.run_id, rows={"raw.numbers": 3},
                          started_at=started, finished_at=datetime.now(UTC))


SPEC = StackSpec(name="wheel", el_steps=(Numbers(),))
"""

RUN_SPEC = """
python - <<'EOF'
from stacks_contract import RunRequest, parse_warehouse
from wheel_step import SPEC
{imports}
record = {orchestrator}.run(SPEC, RunRequest(stack="wheel"), parse_warehouse("w.duckdb"))
print("RESULT", record.status.value, record.rows)
EOF
"""

# member -> (extras to install, bash example, text its output must contain)
EXAMPLES: dict[str, tuple[str, str, str]] = {
    "contract": (
        "",
        """python - <<'EOF'
from importlib.metadata import distributions
from stacks_contract import RunRequest, StackSpec, parse_warehouse, plan

plan(StackSpec(name="wheel", el_steps=()))
print(parse_warehouse("postgresql://u@h/db?sslmode=require").redacted_url())
names = sorted(d.metadata["Name"].lower().replace("_", "-") for d in distributions())
print("RESULT", RunRequest(stack="wheel").stack, names)
EOF""",
        # pydantic and what pydantic itself needs, nothing of ours or of a tool
        "RESULT wheel ['annotated-types', 'pydantic', 'pydantic-core', 'stacks-contract', "
        "'typing-extensions', 'typing-inspection']",
    ),
    "core": (
        "",
        RUN_SPEC.format(
            imports="from stacks_core.local import LocalOrchestrator",
            orchestrator="LocalOrchestrator()",
        ),
        "RESULT succeeded {'raw.numbers': 3}",
    ),
    # made from wheels (no checkout), a new stack asks the package index for this release's range
    "cli": (
        "",
        "stacks --help >/dev/null && stacks list | grep -q 'No stacks are installed' && "
        "stacks init my-stack >/dev/null && "
        "grep -q '\"stacks-el-dlt>=0.2,<0.3\"' my-stack/pyproject.toml && "
        "! grep -q 'tool.uv.sources' my-stack/pyproject.toml && echo NO-SOURCES",
        "NO-SOURCES",
    ),
    "demo": (
        "",
        """python - <<'EOF'
import json, sys
from urllib.request import urlopen
from stacks_demo import SHOP_DBT_PROJECT, ShopServer

assert SHOP_DBT_PROJECT.is_relative_to(sys.prefix), SHOP_DBT_PROJECT  # from the wheel
models = sorted(p.name for p in SHOP_DBT_PROJECT.glob("models/*/*.sql"))
assert "fct_orders.sql" in models and (SHOP_DBT_PROJECT / "dbt_project.yml").is_file(), models
with ShopServer() as shop:
    print("RESULT", json.load(urlopen(shop.url + "/customers"))["total"], len(models))
EOF""",
        "RESULT 50 8",
    ),
    "testing": (
        "",
        """python - <<'EOF'
from stacks_contract import RunRequest, parse_warehouse
from stacks_core.local import LocalOrchestrator
from stacks_testing.reference import reference_stack

spec = reference_stack("sources")
record = LocalOrchestrator().run(spec, RunRequest(stack=spec.name), parse_warehouse("w.duckdb"))
print("RESULT", record.status.value, record.models_built)
EOF""",
        "RESULT succeeded 2",
    ),
    "el-dlt": (
        "",
        """python - <<'EOF'
import dlt
from stacks_contract import RunRequest, parse_warehouse
from stacks_el_dlt import DltStep

@dlt.resource(primary_key="id", write_disposition="merge")
def events():
    yield [{"id": 1, "kind": "signup"}, {"id": 2, "kind": "order"}]

step = DltStep("events", lambda: events(), pipelines_base_dir="dlt")
result = step.run(RunRequest(stack="wheel"), parse_warehouse("w.duckdb"))
print("RESULT", result.rows)
EOF""",
        "RESULT {'raw.events': 2}",
    ),
    "transform-dbt": (
        "",
        """mkdir -p proj/models
printf "name: proj\\nversion: '1.0'\\nconfig-version: 2\\n" > proj/dbt_project.yml
echo "select 1 as id, '{{ var(\\"stacks_run_id\\", \\"manual\\") }}' as _stacks_run_id" \
  > proj/models/one.sql
python - <<'EOF'
from stacks_contract import RunRequest, parse_warehouse
from stacks_transform_dbt import DbtTransform

t = DbtTransform("proj")
result = t.run(RunRequest(stack="wheel"), parse_warehouse("w.duckdb"))
print("RESULT", result.ok, [m.name for m in result.models], t.produces())
EOF""",
        "RESULT True ['one']",
    ),
    "orch-dagster": (
        "",
        RUN_SPEC.format(
            imports="from stacks_orch_dagster import DagsterOrchestrator",
            orchestrator="DagsterOrchestrator()",
        ),
        "RESULT succeeded {'raw.numbers': 3}",
    ),
    "orch-airflow": (
        "",
        RUN_SPEC.format(
            imports="from stacks_orch_airflow import AirflowOrchestrator",
            orchestrator="AirflowOrchestrator(retry_delay=0)",
        ),
        "RESULT succeeded {'raw.numbers': 3}",
    ),
    "orch-temporal": (
        "[devserver]",
        RUN_SPEC.format(
            imports="from stacks_orch_temporal import TemporalOrchestrator",
            orchestrator="TemporalOrchestrator()",
        ),
        "RESULT succeeded {'raw.numbers': 3}",
    ),
    "dagster-dlt-dbt": (
        "",
        """stacks list
python - <<'EOF'
from stacks_contract import parse_warehouse
from stacks_dagster_dlt_dbt import build_stack

spec = build_stack().spec(parse_warehouse("w.duckdb"))  # the shop dbt project, from the wheel
print("RESULT", sorted(t.key for t in spec.transform.produces())[:2])
EOF""",
        "RESULT ['analytics.daily_revenue', 'analytics.dim_customers']",
    ),
    "temporal-dlt-dbt": ("", "stacks list", "temporal-dlt-dbt"),
    "el-airbyte": (
        "[local]",
        """python - <<'EOF'
from stacks_contract import RunRequest, parse_warehouse
from stacks_contract.errors import StacksError
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local import LocalEngine
from stacks_el_airbyte.manifests import SHOP_MANIFEST

assert SHOP_MANIFEST.is_file(), SHOP_MANIFEST  # the shop's declarative manifest, in the wheel
with LocalEngine([]) as engine:  # Airbyte's public API on localhost, no connection yet
    cid = "5b0c7a52-8a8e-4a43-9a11-2f2f4c1d7e10"
    step = AirbyteStep("shop", cid, ["orders"], env=engine.env())
    try:
        step.run(RunRequest(stack="wheel"), parse_warehouse("w.duckdb"))
    except StacksError as exc:
        print("RESULT", [t.key for t in step.produces()], str(exc).split(": ", 1)[1][:40])
EOF""",
        "RESULT ['raw.orders'] Airbyte at http://127.0.0.1:",
    ),
    "airflow-airbyte-dbt": ("", "stacks list", "airflow-airbyte-dbt"),
}
