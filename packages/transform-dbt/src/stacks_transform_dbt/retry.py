"""``dbt retry`` for a run tried again: only what failed or was skipped runs a second time.

An orchestrator retries a failed transform step under the same run id (Dagster's step retry and
"re-execute from failure", a Temporal activity's next attempt, an Airflow task cleared). The
state folder's ``run_results.json`` says what the previous attempt did; when that attempt was
this run's (its ``stacks_run_id`` var) and left nodes failed or skipped, the transform runs
``dbt retry`` instead of ``dbt build``, and its result is the previous one with the retried
nodes' outcomes in place: the run's whole transform, built once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRequest, TransformResult

__all__ = ["RETRIED", "merged", "previous_attempt"]

#: dbt statuses ``dbt retry`` runs again
RETRIED = frozenset({"error", "fail", "skipped", "runtime error"})


def previous_attempt(run_results: Path, request: RunRequest, run_id_var: str) -> Any | None:
    """The previous attempt's run_results artifact, if it was ``request``'s run (same run id)
    and left something to retry; else None (then a fresh ``dbt build`` runs)."""
    try:
        artifact = json.loads(run_results.read_text())
    except (OSError, ValueError):
        return None
    args = artifact.get("args") or {}
    vars_ = args.get("vars") or {}
    if isinstance(vars_, str):  # older dbt versions keep the CLI string
        try:
            vars_ = json.loads(vars_)
        except ValueError:
            return None
    if vars_.get(run_id_var) != request.run_id or args.get("which") not in ("build", "retry"):
        return None
    if not any(r.get("status") in RETRIED for r in artifact.get("results", [])):
        return None
    return artifact


def merged(previous: TransformResult, retried: TransformResult) -> TransformResult:
    """``previous`` with every node ``retried`` ran replaced by its new outcome."""
    models = {m.name: m for m in previous.models}
    models.update({m.name: m for m in retried.models})
    tests = {t.name: t for t in previous.tests}
    tests.update({t.name: t for t in retried.tests})
    return retried.model_copy(
        update={
            "models": tuple(models.values()),
            "tests": tuple(tests.values()),
            "started_at": min(previous.started_at, retried.started_at),
        }
    )
