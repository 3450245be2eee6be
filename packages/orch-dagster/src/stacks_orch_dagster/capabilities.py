"""What orch-dagster recognises in a step, by duck typing.

orch-dagster never imports stacks_el_dlt or stacks_transform_dbt: a step that *looks like* a dlt
step (it can hand over a fresh dlt source and its pipeline) gets dagster-dlt assets, a transform
that looks like a dbt transform gets dagster-dbt assets. Anything else runs through the ports.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from stacks_contract.models import LoadResult, RunRequest, TableRef, TransformResult


@runtime_checkable
class DltCapable(Protocol):
    """An EL step backed by dlt (see ``stacks_el_dlt.DltStep``)."""

    name: str

    def produces(self) -> tuple[TableRef, ...]: ...

    def dlt_source(self, request: RunRequest) -> Any:
        """A fresh dlt source carrying every behaviour ``run()`` has (run-id stamping, cursors)."""

    def dlt_pipeline(self, warehouse: Any) -> Any:
        """The configured ``dlt.Pipeline`` ``run()`` uses."""

    def table_resources(self) -> dict[TableRef, str]:
        """Every produced table -> the dlt resource writing it (child tables -> root resource)."""

    def load_result(self, pipeline: Any, request: RunRequest, started_at: datetime) -> LoadResult:
        """Exact rows per table from the pipeline's last run."""

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        """Post-load work ``run()`` does (quarantine bookkeeping, say)."""


@runtime_checkable
class DbtCapable(Protocol):
    """A transform backed by a dbt project (see ``stacks_transform_dbt.DbtTransform``)."""

    name: str
    project_dir: Path

    def consumes(self) -> tuple[TableRef, ...]: ...

    def produces(self) -> tuple[TableRef, ...]: ...

    def invocation(self, warehouse: Any, request: RunRequest) -> Any:
        """A ``DbtInvocation``: project_dir, profiles_dir, target, env, vars, target_path."""

    def manifest_path(self, warehouse: Any) -> Path:
        """A parsed manifest.json for ``warehouse``."""

    def result_from_run_results(
        self, path: Path, request: RunRequest, started_at: datetime
    ) -> TransformResult:
        """Translate dbt's run_results.json into the contract's result."""


def is_dlt_step(step: object) -> bool:
    return isinstance(step, DltCapable)


def is_dbt_transform(transform: object) -> bool:
    return isinstance(transform, DbtCapable)
