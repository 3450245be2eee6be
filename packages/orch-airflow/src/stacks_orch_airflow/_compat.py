"""Contract v2 names this package uses, with small stand-ins until they land on main.

Each block imports the contract's own implementation first; the fallback only keeps this
package running on the older contract and goes away once main carries v2.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.manifest import plan
from stacks_contract.models import (
    LoadResult,
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TransformResult,
    TriggerKind,
    utcnow,
)

try:
    from stacks_contract.selection import Selection, resolve
except ImportError:  # pragma: no cover - contract v1

    @dataclass(frozen=True)
    class Selection:  # type: ignore[no-redef]
        steps: tuple[str, ...]
        models: tuple[str, ...]
        everything: bool
        all_models: tuple[str, ...] = ()

        @property
        def runs_transform(self) -> bool:
            return bool(self.models)

        def transform_select(self) -> tuple[str, ...]:
            return () if set(self.models) >= set(self.all_models) else self.models

    def resolve(spec: StackSpec, select: Any = (), exclude: Any = ()) -> Selection:  # type: ignore[misc]
        plan(spec)
        steps = tuple(s.name for s in spec.el_steps)
        models: tuple[str, ...] = ()
        if spec.transform is not None:
            models = tuple(
                m.name for m in getattr(spec.transform, "models", ())
            ) or tuple(t.name for t in spec.transform.produces())
        if not select:
            return Selection(steps, models, True, models)
        names = [s.rstrip("+").lstrip("+") for s in select]
        unknown = [n for n in names if n not in steps and n not in models]
        if unknown:
            raise ConfigError(f"Nothing named {unknown[0]!r} to run.")
        chosen_steps = tuple(s for s in steps if s in names)
        chosen_models = models if chosen_steps else tuple(m for m in models if m in names)
        if not chosen_steps and chosen_models:
            seen = set(chosen_models)
            for m in getattr(spec.transform, "models", ()):
                if seen & set(getattr(m, "depends_on", ())):
                    seen.add(m.name)
            chosen_models = tuple(m for m in models if m in seen)
        return Selection(chosen_steps, chosen_models, False, models)


def record_from_results(
    request: RunRequest,
    *,
    stack: str,
    orchestrator: str,
    started_at: datetime,
    loads: list[LoadResult],
    transform: TransformResult | None,
    transform_step: str,
    error: str | None,
) -> RunRecord:
    """``RunRecord.from_results`` (contract v2) or the same totals computed here."""
    from_results = getattr(RunRecord, "from_results", None)
    if from_results is not None:
        return from_results(
            request,
            stack=stack,
            orchestrator=orchestrator,
            started_at=started_at,
            loads=loads,
            transform=transform,
            transform_step=transform_step,
            error=error,
        )
    rows: dict[str, int] = {}  # pragma: no cover - contract v1
    for load in loads:
        for table, n in load.rows.items():
            rows[table] = rows.get(table, 0) + int(n)
    built = passed = failed = 0
    if transform is not None:
        built = sum(1 for m in transform.models if m.status == NodeStatus.SUCCESS)
        passed = transform.count(NodeStatus.PASS)
        failed = transform.count(NodeStatus.FAIL) + transform.count(NodeStatus.ERROR)
        if error is None and not transform.ok:
            bad = [m.name for m in transform.models if m.status == NodeStatus.ERROR]
            bad += [t.name for t in transform.tests if t.status in (NodeStatus.FAIL, "error")]
            error = f"Step {transform_step!r} failed: {', '.join(bad)} did not pass."
    return RunRecord(
        run_id=request.run_id,
        stack=stack,
        orchestrator=orchestrator,
        trigger=request.trigger,
        status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
        started_at=started_at,
        finished_at=utcnow(),
        rows=rows,
        models_built=built,
        tests_passed=passed,
        tests_failed=failed,
        error=error,
    )


try:
    from stacks_contract.models import StackRef
except ImportError:  # pragma: no cover - contract v1
    from pydantic import BaseModel, ConfigDict

    class StackRef(BaseModel):  # type: ignore[no-redef]
        model_config = ConfigDict(frozen=True, extra="forbid")
        stack: str
        warehouse_env: str = "STACKS_WAREHOUSE"
        warehouse: str | None = None

        def resolve_warehouse(self, env: Any = None) -> Any:
            from stacks_contract.warehouse import parse_warehouse

            env = os.environ if env is None else env
            url = env.get(self.warehouse_env) or self.warehouse
            if url is None:
                url = f"duckdb:///{Path('.stacks').absolute() / (self.stack + '.duckdb')}"
            return parse_warehouse(url)

        def load(self) -> Any:
            from stacks_contract.registry import load_stack

            return load_stack(self.stack)

        def spec(self, env: Any = None) -> StackSpec:
            return self.load().spec(self.resolve_warehouse(env))


try:
    from stacks_contract.triggers import probe_source, scan_files, trigger_request
except ImportError:  # pragma: no cover - contract v1

    @dataclass(frozen=True)
    class FileScan:
        new: tuple[str, ...]
        cursor: str | None

    @dataclass(frozen=True)
    class Probe:
        changed: bool
        version: str

        @property
        def cursor(self) -> str:
            return self.version

    def scan_files(trigger: Any, cursor: str | None) -> Any:  # type: ignore[misc]
        seen = set(json.loads(cursor)) if cursor else set()
        names = sorted(
            str(p.relative_to(trigger.path))
            for p in Path(trigger.path).glob(trigger.pattern)
            if p.is_file()
        )
        new = tuple(n for n in names if n not in seen)
        return FileScan(new, json.dumps(sorted(seen | set(new))) if new else cursor)

    def probe_source(step: Any, cursor: str | None) -> Any:  # type: ignore[misc]
        version = str(step.source_version())
        return Probe(version != cursor, version)

    def trigger_request(spec: StackSpec, trigger: Any, token: str) -> RunRequest:  # type: ignore[misc]
        kind = {
            "cron": TriggerKind.SCHEDULE,
            "file_arrival": TriggerKind.FILE_ARRIVAL,
            "source_change": TriggerKind.SOURCE_CHANGE,
        }[trigger.kind]
        ident = json.dumps([spec.name, trigger.model_dump(mode="json"), token], sort_keys=True)
        digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
        steps = getattr(trigger, "steps", None) or (
            (trigger.step,) if hasattr(trigger, "step") else ()
        )
        return RunRequest(
            run_id=f"{kind.value}-{digest}",
            stack=spec.name,
            trigger=kind,
            select=tuple(f"{s}+" for s in steps),
        )


__all__ = [
    "Selection",
    "StackRef",
    "probe_source",
    "record_from_results",
    "resolve",
    "scan_files",
    "trigger_request",
]
