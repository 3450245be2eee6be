"""Translate dbt's ``run_results.json`` (and ``manifest.json`` beside it) into the contract's
:class:`~stacks_contract.models.TransformResult`. Reads JSON only: no dbt import."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from stacks_contract.models import (
    ModelResult,
    NodeStatus,
    RunRequest,
    TableRef,
    TestResult,
    TransformResult,
    utcnow,
)

#: resource types that materialise a relation
BUILT_TYPES = frozenset({"model", "seed", "snapshot"})
TEST_TYPES = frozenset({"test", "unit_test"})

_STATUS = {
    "success": NodeStatus.SUCCESS,
    # a model reused from deferred state exists and is current
    "reused": NodeStatus.SUCCESS,
    "error": NodeStatus.ERROR,
    "runtime error": NodeStatus.ERROR,
    # microbatch: some batches failed, so the table is not what a full success gives
    "partial success": NodeStatus.ERROR,
    "skipped": NodeStatus.SKIPPED,
    "no-op": NodeStatus.SKIPPED,
    "pass": NodeStatus.PASS,
    "fail": NodeStatus.FAIL,
    "warn": NodeStatus.WARN,
}


def node_status(raw: str) -> NodeStatus:
    """dbt's status string -> the contract's; an unknown status counts as an error."""
    return _STATUS.get(str(raw).lower(), NodeStatus.ERROR)


def load_json(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return json.load(f)


def _rows_affected(adapter_response: dict[str, Any] | None) -> int | None:
    if not adapter_response:
        return None
    n = adapter_response.get("rows_affected")
    # Postgres reports -1 for DDL such as CREATE VIEW: "not applicable", not a count.
    return int(n) if isinstance(n, int) and n >= 0 else None


def clean_message(message: str | None) -> str | None:
    """dbt's multi-line message as one line, without the 'compiled code at ...' pointer."""
    if not message:
        return None
    lines = [ln.strip() for ln in str(message).splitlines()]
    lines = [ln for ln in lines if ln and not ln.lower().startswith("compiled code at")]
    return " ".join(lines) or None


def _name(unique_id: str, node: dict[str, Any] | None) -> str:
    if node and node.get("name"):
        return str(node["name"])
    return unique_id.split(".")[-1]


def _resource_type(unique_id: str, node: dict[str, Any] | None) -> str:
    if node and node.get("resource_type"):
        return str(node["resource_type"])
    return unique_id.split(".", 1)[0]


def _table(node: dict[str, Any] | None) -> TableRef | None:
    if not node or not node.get("schema"):
        return None
    name = node.get("alias") or node.get("name")
    try:
        return TableRef(schema=node["schema"], name=name)
    except ValueError:  # a relation name the contract's identifier rule rejects
        return None


def _tested_model(node: dict[str, Any] | None, nodes: dict[str, dict[str, Any]]) -> str | None:
    if not node:
        return None
    attached = node.get("attached_node") or node.get("tested_node_unique_id")
    candidates = [attached] if attached else list(node.get("depends_on", {}).get("nodes", []))
    for uid in candidates:
        if uid and uid.split(".", 1)[0] in BUILT_TYPES:
            return _name(uid, nodes.get(uid))
    return None


def translate(
    run_results: dict[str, Any],
    manifest: dict[str, Any] | None,
    request: RunRequest,
    started_at: datetime,
    finished_at: datetime | None = None,
    artifacts: str | None = None,
) -> TransformResult:
    """Pure translation of parsed ``run_results.json`` (+ optional ``manifest.json``);
    ``artifacts`` is the folder holding them, recorded for people and tools."""
    nodes: dict[str, dict[str, Any]] = {}
    if manifest:
        nodes.update(manifest.get("nodes", {}))
        nodes.update(manifest.get("unit_tests", {}) or {})
    models: list[ModelResult] = []
    tests: list[TestResult] = []
    for r in run_results.get("results", []):
        uid = r["unique_id"]
        node = nodes.get(uid)
        rtype = _resource_type(uid, node)
        status = node_status(r.get("status", "error"))
        message = clean_message(r.get("message"))
        if rtype in TEST_TYPES:
            failures = r.get("failures")
            tests.append(
                TestResult(
                    name=_name(uid, node),
                    model=_tested_model(node, nodes),
                    status=status,
                    failures=int(failures) if isinstance(failures, int) and failures > 0 else 0,
                    message=message if status is not NodeStatus.PASS else None,
                    kind=rtype,
                )
            )
        elif rtype in BUILT_TYPES:
            models.append(
                ModelResult(
                    name=_name(uid, node),
                    table=_table(node),
                    status=status,
                    seconds=float(r.get("execution_time") or 0.0),
                    rows_affected=_rows_affected(r.get("adapter_response")),
                    # dbt's success message ("CREATE VIEW", "OK") carries nothing for a user
                    message=message if status is not NodeStatus.SUCCESS else None,
                    kind=rtype,
                )
            )
    return TransformResult(
        run_id=request.run_id,
        models=tuple(models),
        tests=tuple(tests),
        started_at=started_at,
        finished_at=finished_at or utcnow(),
        artifacts=artifacts,
    )


def result_from_run_results(
    path: Path, request: RunRequest, started_at: datetime
) -> TransformResult:
    """Read ``path`` (a ``run_results.json``) and the ``manifest.json`` beside it, if any."""
    path = Path(path)
    manifest_file = path.parent / "manifest.json"
    manifest = load_json(manifest_file) if manifest_file.exists() else None
    return translate(load_json(path), manifest, request, started_at, artifacts=str(path.parent))
