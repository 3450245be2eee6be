"""The DAG file a user drops into the dags folder: two lines, built from a :class:`StackRef`.

    from stacks_orch_airflow import stack_dag
    dag = stack_dag("my-stack")

It names the stack only; the warehouse (and its password) comes from the environment of the
process that parses or runs it (``$STACKS_WAREHOUSE`` by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks_contract.models import StackRef

__all__ = ["stack_dag", "write_dag_file"]


def stack_dag(stack: str | StackRef, **options: Any) -> Any:
    """The DAG of an installed stack (``options`` go to :class:`AirflowOrchestrator`)."""
    from stacks_orch_airflow.orchestrator import AirflowOrchestrator

    if isinstance(stack, StackRef):
        ref = stack
    elif stack.lstrip().startswith("{"):
        ref = StackRef.model_validate_json(stack)
    else:
        ref = StackRef(stack=stack)
    return AirflowOrchestrator(**options).build(ref)


def write_dag_file(ref: str | StackRef, dags_folder: str | Path, *, prepare: bool = False) -> Path:
    """Write ``<dags_folder>/stacks_<stack>.py`` for ``ref`` (no secret in it) and return it.

    ``prepare``: build the DAG once here (with this process's ``$STACKS_WAREHOUSE``), so what it
    needs on disk exists before the scheduler's first parse (a dbt transform's manifest.json:
    without it, the first parse runs dbt)."""
    ref = ref if isinstance(ref, StackRef) else StackRef(stack=ref)
    folder = Path(dags_folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stacks_{ref.stack.replace('-', '_')}.py"
    extra = {k: v for k, v in ref.model_dump().items() if k != "stack" and v is not None}
    if extra == {"warehouse_env": "STACKS_WAREHOUSE"}:
        text = f"from stacks_orch_airflow import stack_dag\ndag = stack_dag({ref.stack!r})\n"
    else:
        text = (
            "from stacks_orch_airflow import stack_dag\n"
            f"dag = stack_dag({ref.model_dump_json()!r})\n"
        )
    path.write_text(text)
    if prepare:
        stack_dag(ref)
    return path
