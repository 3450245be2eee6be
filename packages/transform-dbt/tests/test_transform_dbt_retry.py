"""A run tried again after its dbt build failed: ``dbt retry`` runs only the failed and skipped
nodes (dbt's own run_results.json says which ran), and the result is the whole run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stacks_contract.models import NodeStatus, RunRequest
from stacks_testing.reference.retry_project import FAILING, break_b, heal, write_retry_project
from stacks_transform_dbt import DbtTransform
from stacks_transform_dbt.errors import DbtStepFailed


def _ran(transform: DbtTransform, warehouse, request: RunRequest) -> list[str]:
    """The nodes dbt's last invocation ran, from its run_results.json."""
    path = transform.invocation(warehouse, request).target_path / "run_results.json"
    return sorted(r["unique_id"].split(".")[2] for r in json.loads(path.read_text())["results"])


def test_a_failed_build_retried_under_its_run_id_reruns_only_what_failed_or_was_skipped(
    tmp_path: Path, warehouse
) -> None:
    transform = DbtTransform(write_retry_project(tmp_path / "project"), schema="analytics")
    break_b(warehouse)
    request = RunRequest(stack="retry", run_id="retry-1")
    with pytest.raises(DbtStepFailed) as failed:
        transform.run(request, warehouse)
    first = failed.value.result
    assert {m.name: m.status for m in first.models} == {
        "a": NodeStatus.SUCCESS,
        "b": NodeStatus.ERROR,
        "c": NodeStatus.SKIPPED,
        "d": NodeStatus.SUCCESS,
    }
    assert len(_ran(transform, warehouse, request)) == 6, "the first attempt builds everything"

    heal(warehouse)
    result = transform.run(request, warehouse)
    assert _ran(transform, warehouse, request) == sorted(FAILING), "dbt retry re-ran more"
    # the result is the run's whole transform: the first attempt's successes and the retried
    assert result.ok
    assert sorted(m.name for m in result.models if m.status == NodeStatus.SUCCESS) == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert result.count(NodeStatus.PASS) == 2

    # nothing left to retry: the same run id builds again in full; another run id too
    transform.run(request, warehouse)
    assert len(_ran(transform, warehouse, request)) == 6
    break_b(warehouse)
    with pytest.raises(DbtStepFailed):
        transform.run(request, warehouse)
    heal(warehouse)
    other = RunRequest(stack="retry", run_id="retry-2")
    transform.run(other, warehouse)
    assert len(_ran(transform, warehouse, other)) == 6, "another run's failures were retried"
