"""The same step through the Python API in a fresh process (no ``uv run``, no CLI):

    python bench/peers/stacks_api.py SOURCE_URL WAREHOUSE [TABLE,...]

as a script or a scheduler's task would call it; prints the rows loaded per table (JSON)."""

from __future__ import annotations

import json
import sys

from stacks_contract import RunRequest, parse_warehouse
from stacks_el_dlt import SqlDatabaseStep


def main() -> None:
    source, warehouse = sys.argv[1], parse_warehouse(sys.argv[2])
    tables = [t for t in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if t]
    step = SqlDatabaseStep(source, tables or None, name="app")
    result = step.run(RunRequest(stack="bench-sql"), warehouse)
    print(json.dumps(result.rows))


if __name__ == "__main__":
    main()
