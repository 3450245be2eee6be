"""Run the stack once in a fresh interpreter, for the SIGKILL test (``python THIS_FILE RUN_ID``).

Like ``stacks_testing.runner`` (warehouse as JSON in ``$STACKS_RUNNER_WAREHOUSE``), but
``READY`` is printed when dlt starts loading, not before Dagster loads its definitions: kill
times are measured from there, so every kill lands in the load or the dbt build that follows.
"""

from __future__ import annotations

import sys

from stacks_contract.models import RunRequest
from stacks_dagster_dlt_dbt import build_stack
from stacks_testing.runner import warehouse_from_env


def main(run_id: str) -> int:
    warehouse = warehouse_from_env()
    stack = build_stack()

    def report(step: str, message: str) -> None:
        print(f"[{step}] {message}", flush=True)
        if message.startswith("loading with dlt"):
            print("READY", flush=True)

    with stack.session(warehouse):
        record = stack.orchestrator().run(
            stack.spec(warehouse), RunRequest(run_id=run_id, stack=stack.name), warehouse, report
        )
    print(f"DONE {record.status} {record.error or ''}", flush=True)
    return 0 if record.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
