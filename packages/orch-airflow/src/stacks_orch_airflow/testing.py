"""Factories for the conformance suite's subprocess runner."""

from __future__ import annotations

from stacks_orch_airflow import home
from stacks_orch_airflow.orchestrator import AirflowOrchestrator

__all__ = ["warm_orchestrator"]


def warm_orchestrator() -> AirflowOrchestrator:
    """An orchestrator whose Airflow is imported and whose metadata DB is ready, so a runner's
    READY line comes after the import (the SIGKILL points then land in the run, not in it)."""
    home.ensure_db()
    import airflow.api_fastapi.execution_api.app
    import airflow.providers.standard.operators.python
    import airflow.sdk.execution_time.supervisor  # noqa: F401

    return AirflowOrchestrator(retries=1, retry_delay=0.0)
