"""What ``stacks init`` writes: a stack package with an entry point, a dlt step over an in-code
resource, a dbt project and one test. Text only: the contract imports none of these tools.

Placeholders: ``__NAME__`` (the stack and distribution name), ``__MODULE__`` (its import name).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FILES", "module_name", "write"]

PYPROJECT = """\
[project]
name = "__NAME__"
version = "0.1.0"
description = "__NAME__: an in-code dlt resource -> dbt -> Dagster (scaffolded by `stacks init`)."
requires-python = ">=3.11"
# the default stack: dlt for EL, dbt for the transform, Dagster to orchestrate
dependencies = [
    "stacks-contract",
    "stacks-core",
    "stacks-cli",
    "stacks-el-dlt",
    "stacks-transform-dbt",
    "stacks-orch-dagster[dlt,dbt]",
]

# `stacks list` finds the stack here; `stacks run __NAME__` runs it
[project.entry-points."stacks.stacks"]
__NAME__ = "__MODULE__:build_stack"

[dependency-groups]
dev = ["pytest>=8.3"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/__MODULE__"]
"""

MODULE = '''\
"""__NAME__: one dlt resource (defined in code) -> a dbt model -> Dagster.

Replace ``items`` with your source (any dlt source or resource factory) and extend the dbt
project in ``dbt_project/``. Tools are imported inside methods, so ``stacks list`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks_contract import Orchestrator, Stack, StackSpec, Warehouse

__all__ = ["DBT_PROJECT_DIR", "NAME", "ROWS", "build_stack", "items"]

NAME = "__NAME__"
DBT_PROJECT_DIR = Path(__file__).parent / "dbt_project"
ROWS = [
    {"id": 1, "name": "apple", "price": 1.2},
    {"id": 2, "name": "pear", "price": 2.5},
    {"id": 3, "name": "plum", "price": 0.8},
]


def items() -> Any:
    """A fresh dlt resource on every call (dlt cannot run one source object twice)."""
    import dlt

    @dlt.resource(name="items", primary_key="id", write_disposition="merge")
    def rows() -> Any:
        yield from ROWS

    return rows()


class ScaffoldStack(Stack):
    name = NAME
    description = "An in-code dlt resource -> dbt -> Dagster."

    def orchestrator(self) -> Orchestrator:
        from stacks_orch_dagster import DagsterOrchestrator

        return DagsterOrchestrator()

    def spec(self, warehouse: Warehouse) -> StackSpec:
        from stacks_el_dlt import DltStep
        from stacks_transform_dbt import DbtTransform

        return StackSpec(
            name=NAME,
            el_steps=(DltStep("items", items),),
            transform=DbtTransform(DBT_PROJECT_DIR, schema="analytics"),
            description=self.description,
        )

    def hints(self, warehouse: Warehouse) -> list[str]:
        return [
            f"Models: analytics.items_summary; runs: stacks runs {NAME}; "
            f"lineage: stacks plan {NAME}; UI: stacks ui {NAME}"
        ]


def build_stack() -> ScaffoldStack:
    """The ``stacks.stacks`` entry point: cheap, imports no tool."""
    return ScaffoldStack()
'''

DBT_PROJECT = """\
# stacks renders the profile from the warehouse (no profiles.yml here) and passes the vars
# stacks_source_schema (where the raw tables are) and stacks_run_id; `stacks run --vars` adds more.
name: __MODULE__
profile: __MODULE__
version: "1.0"
config-version: 2
model-paths: ["models"]

models:
  __MODULE__:
    +materialized: table
"""

SOURCES = """\
version: 2
sources:
  - name: raw
    schema: "{{ var('stacks_source_schema', 'raw') }}"
    tables:
      - name: items
models:
  - name: items_summary
    columns:
      - name: items
        data_tests:
          - not_null
"""

MODEL = """\
-- try: stacks run __NAME__ --vars '{min_price: 1}'
select
    count(*) as items,
    coalesce(sum(price), 0) as total_price,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('raw', 'items') }}
where price >= {{ var('min_price', 0) }}
"""

TEST = '''\
"""Run the stack once into a throwaway DuckDB file, as `stacks run` does, and check the data."""

import os

import duckdb
from stacks_contract import RunStatus, parse_warehouse
from stacks_core import run_stack

from __MODULE__ import build_stack

for key, value in {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
                   "RUNTIME__DLTHUB_TELEMETRY": "false"}.items():  # fmt: skip
    os.environ.setdefault(key, value)


def test_a_run_loads_the_items_and_builds_the_summary(tmp_path):
    warehouse = parse_warehouse(str(tmp_path / "test.duckdb"))
    record = run_stack(build_stack(), warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.rows["raw.items"] == 3
    with duckdb.connect(str(warehouse.path), read_only=True) as db:
        assert db.execute("select items from analytics.items_summary").fetchall() == [(3,)]
'''

GITIGNORE = ".stacks/\n__pycache__/\n.venv/\n"

README = """\
# __NAME__

A stack scaffolded by `stacks init`: an in-code dlt resource (`items`) -> a dbt model
(`analytics.items_summary`) -> Dagster.

```bash
uv pip install -e .        # or, in a project: uv add --editable path/to/this
stacks list                # shows __NAME__
stacks plan __NAME__       # steps, tables, models and lineage
stacks run __NAME__        # into ./.stacks/__NAME__.duckdb
stacks runs __NAME__       # the run ledger
pytest tests               # one test: a run on a throwaway DuckDB file
```
"""

#: relative path (with placeholders) -> template
FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    ".gitignore": GITIGNORE,
    "src/__MODULE__/__init__.py": MODULE,
    "src/__MODULE__/py.typed": "",
    "src/__MODULE__/dbt_project/dbt_project.yml": DBT_PROJECT,
    "src/__MODULE__/dbt_project/models/sources.yml": SOURCES,
    "src/__MODULE__/dbt_project/models/items_summary.sql": MODEL,
    "tests/test___MODULE__.py": TEST,
}


def module_name(name: str) -> str:
    """The import name for stack ``name``: ``my-stack`` -> ``stacks_my_stack``."""
    return "stacks_" + name.replace("-", "_")


def write(root: Path, name: str) -> list[Path]:
    """Write the package for stack ``name`` under ``root``; the files written, in order."""
    module = module_name(name)
    written = []
    for rel, text in FILES.items():
        path = root / rel.replace("__MODULE__", module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("__NAME__", name).replace("__MODULE__", module))
        written.append(path)
    return written
