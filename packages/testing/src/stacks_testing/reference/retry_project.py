"""A dbt project whose build fails in one model until told not to: the partial-retry tests of the
dbt transform and of every orchestrator that retries it (files only; the test kit runs no dbt).

``a`` -> ``b`` -> ``c`` and ``a`` -> ``d``, tables, with a ``not_null`` test on ``c`` and on
``d``. ``b`` fails (a conversion error at run time) while the table ``control.flags`` holds the
row ``fail_b``; ``c`` and its test are then skipped. ``dbt retry`` after :func:`heal` runs ``b``,
``c`` and ``c``'s test only.
"""

from __future__ import annotations

from pathlib import Path

from stacks_contract.warehouse import Warehouse

__all__ = ["FAILING", "break_b", "heal", "write_retry_project"]

#: the nodes a build with ``b`` failing does not finish (error or skipped): what ``dbt retry``
#: runs after :func:`heal`
FAILING = ("b", "c", "not_null_c_id")
FILES = {
    "dbt_project.yml": (
        "name: retry_demo\nversion: '1.0'\nconfig-version: 2\nprofile: retry_demo\n"
        "models:\n  retry_demo:\n    +materialized: table\n"
    ),
    "models/a.sql": (
        'select 1 as id, \'{{ var("stacks_run_id", "manual") }}\' as _stacks_run_id\n'
    ),
    "models/b.sql": (
        "select id, cast(case when exists (select 1 from control.flags where flag = 'fail_b') "
        "then 'not a number' else '1' end as integer) as v, _stacks_run_id from {{ ref('a') }}\n"
    ),
    "models/c.sql": "select * from {{ ref('b') }}\n",
    "models/d.sql": "select * from {{ ref('a') }}\n",
    "models/schema.yml": (
        "models:\n"
        "  - name: c\n    columns:\n      - name: id\n        data_tests: [not_null]\n"
        "  - name: d\n    columns:\n      - name: id\n        data_tests: [not_null]\n"
    ),
}


def write_retry_project(path: Path) -> Path:
    """Write the project into ``path`` (created) and return it."""
    for name, text in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def break_b(warehouse: Warehouse) -> None:
    """From now on ``b`` fails."""
    from stacks_core.sql import connect

    with connect(warehouse) as conn:
        conn.execute("create schema if not exists control")
        conn.execute("drop table if exists control.flags")
        conn.execute("create table control.flags as select 'fail_b' as flag")


def heal(warehouse: Warehouse) -> None:
    """``b`` builds again."""
    from stacks_core.sql import connect

    with connect(warehouse) as conn:
        conn.execute("delete from control.flags")
