"""Frozen data that crosses a boundary between layers.

Everything here is plain data: no tool types, no connections. An EL step returns a
:class:`LoadResult`, a transform a :class:`TransformResult`, an orchestrator a :class:`RunRecord`;
the run ledger stores :class:`RunRecord` rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus 8 random hex digits."""
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


class TableRef(_Frozen):
    """A table in the warehouse: ``schema.name``. The unit of the table manifest."""

    schema_: str = Field(alias="schema", pattern=_IDENT)
    name: str = Field(pattern=_IDENT)

    def __init__(self, schema: str | None = None, name: str | None = None, **kw: Any) -> None:
        if schema is not None:
            kw["schema"] = schema
        if name is not None:
            kw["name"] = name
        super().__init__(**kw)

    @property
    def schema_name(self) -> str:
        return self.schema_

    @classmethod
    def parse(cls, dotted: str) -> TableRef:
        schema, _, name = dotted.partition(".")
        if not name:
            raise ValueError(f"expected 'schema.table', got {dotted!r}")
        return cls(schema=schema, name=name)

    @property
    def key(self) -> str:
        return f"{self.schema_}.{self.name}"

    def __str__(self) -> str:
        return self.key


class TriggerKind(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    FILE_ARRIVAL = "file_arrival"
    SOURCE_CHANGE = "source_change"
    FRESHNESS = "freshness"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunRequest(_Frozen):
    """What starts a run. The run id travels to every step and onto every loaded row."""

    run_id: str = Field(default_factory=new_run_id, pattern=r"^[A-Za-z0-9_.:\-]+$")
    stack: str
    trigger: TriggerKind = TriggerKind.MANUAL
    #: partial run: only these steps/models and what depends on them (orchestrator-specific names)
    select: tuple[str, ...] = ()
    full_refresh: bool = False
    requested_at: datetime = Field(default_factory=utcnow)


class LoadResult(_Frozen):
    """What an EL step did. ``rows`` counts rows written per table (exact, not rows x columns)."""

    step: str
    run_id: str
    load_id: str | None = None
    rows: dict[str, int] = Field(default_factory=dict)  # "schema.table" -> rows written
    quarantined: dict[str, int] = Field(default_factory=dict)  # "schema.table" -> rows set aside
    cursor: dict[str, Any] = Field(default_factory=dict)  # resource -> last cursor value
    started_at: datetime
    finished_at: datetime

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class NodeStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    SKIPPED = "skipped"
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"


class ModelResult(_Frozen):
    name: str  # unique id in the transform's own terms (e.g. dbt's model name)
    table: TableRef | None = None
    status: NodeStatus
    seconds: float = 0.0
    rows_affected: int | None = None
    message: str | None = None


class TestResult(_Frozen):
    __test__ = False  # not a pytest class

    name: str
    model: str | None = None
    status: NodeStatus  # PASS / FAIL / WARN / ERROR / SKIPPED
    failures: int = 0  # failing rows
    message: str | None = None


class TransformResult(_Frozen):
    run_id: str
    models: tuple[ModelResult, ...] = ()
    tests: tuple[TestResult, ...] = ()
    started_at: datetime
    finished_at: datetime

    @property
    def ok(self) -> bool:
        bad = {NodeStatus.ERROR, NodeStatus.FAIL}
        return not any(m.status in bad for m in self.models) and not any(
            t.status in bad for t in self.tests
        )

    def count(self, status: NodeStatus) -> int:
        return sum(1 for t in self.tests if t.status == status)


class RunRecord(_Frozen):
    """One row of the run ledger."""

    run_id: str
    stack: str
    orchestrator: str
    trigger: TriggerKind
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    models_built: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return (
            None
            if self.finished_at is None
            else (self.finished_at - self.started_at).total_seconds()
        )


# --- triggers -----------------------------------------------------------------------------------


class CronTrigger(_Frozen):
    """The baseline: run on a cron schedule (UTC unless ``timezone`` says otherwise)."""

    kind: Literal["cron"] = "cron"
    cron: str = Field(pattern=r"^\S+( \S+){4}$")
    timezone: str = "UTC"


class FileArrivalTrigger(_Frozen):
    """Run when new files match ``pattern`` under ``path`` (event-driven)."""

    kind: Literal["file_arrival"] = "file_arrival"
    path: str
    pattern: str = "*"
    steps: tuple[str, ...] = ()  # EL steps to run; empty = whole stack


class SourceChangeTrigger(_Frozen):
    """Run when a source reports a change (e.g. a newer ``updated_at`` than last seen)."""

    kind: Literal["source_change"] = "source_change"
    step: str  # the EL step whose source is watched
    poll_seconds: int = Field(default=60, ge=1)


Trigger = Annotated[
    CronTrigger | FileArrivalTrigger | SourceChangeTrigger, Field(discriminator="kind")
]


class Freshness(_Frozen):
    """Raw tables must be no older than ``max_lag``; orchestrators turn this into a check/policy."""

    max_lag: timedelta


class StackSpec(BaseModel):
    """A stack as data plus the step objects that implement it.

    Frozen, but holds port instances (``arbitrary_types_allowed``), so it is not serialisable.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    el_steps: tuple[Any, ...]  # tuple[ELStep, ...]; Any to keep the import graph one-way
    transform: Any | None = None  # Transform | None
    triggers: tuple[Trigger, ...] = ()
    freshness: Freshness | None = None
    description: str = ""

    def step(self, name: str) -> Any:
        for s in self.el_steps:
            if s.name == name:
                return s
        raise KeyError(name)
