"""Frozen data that crosses a boundary between layers.

Everything here is plain data: no tool types, no connections. An EL step returns a
:class:`LoadResult`, a transform a :class:`TransformResult`, an orchestrator a :class:`RunRecord`;
the run ledger stores :class:`RunRecord` rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    #: stopped by Ctrl-C or SIGTERM; the next run converges
    INTERRUPTED = "interrupted"
    #: its process died (SIGKILL, power loss): found by the next run, which holds the run lock
    ABANDONED = "abandoned"


class Window(_Frozen):
    """A half-open time window ``[start, end)`` a run covers: an Airflow data interval, a Dagster
    time partition, a Temporal schedule's backfill slot, ``stacks run --window A..B``. EL steps
    read it as cursor bounds (re-delivering the window without moving their cursors); transforms
    receive it as variables. Both ends are timezone-aware."""

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("a window bound needs a timezone (e.g. 2026-12-01T00:00:00Z)")
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start})")
        return self


class RunRequest(_Frozen):
    """What starts a run. The run id travels to every step and onto every loaded row.

    ``select`` / ``exclude`` are selectors in the grammar of :mod:`stacks_contract.selection`
    (``X``, ``X+``, ``+X``, ``tag:T``), resolved against the stack's manifest by
    :func:`stacks_contract.selection.resolve` before anything runs. A :class:`Transform` is
    handed a request whose ``select`` holds the exact node names it must build (empty: all).
    ``window``: the time window the run covers (none: whatever is new since the last run).
    """

    run_id: str = Field(default_factory=new_run_id, pattern=r"^[A-Za-z0-9_.:\-]+$")
    stack: str
    trigger: TriggerKind = TriggerKind.MANUAL
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full_refresh: bool = False
    requested_at: datetime = Field(default_factory=utcnow)
    #: variables for the transform (``stacks run --vars``; dbt receives them as ``--vars``)
    vars: dict[str, Any] = Field(default_factory=dict)
    window: Window | None = None


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
    #: what the node is in the tool's terms: "model", "seed" or "snapshot" (dbt's)
    kind: str = "model"


class TestResult(_Frozen):
    __test__ = False  # not a pytest class

    name: str
    model: str | None = None
    status: NodeStatus  # PASS / FAIL / WARN / ERROR / SKIPPED
    failures: int = 0  # failing rows
    message: str | None = None
    #: "test" (a data test) or "unit_test" (dbt's unit tests, run before their model)
    kind: str = "test"


class TransformResult(_Frozen):
    run_id: str
    models: tuple[ModelResult, ...] = ()
    tests: tuple[TestResult, ...] = ()
    started_at: datetime
    finished_at: datetime
    #: where the tool left this run's artifacts for people and tools (dbt's target/ folder)
    artifacts: str | None = None

    @property
    def ok(self) -> bool:
        bad = {NodeStatus.ERROR, NodeStatus.FAIL}
        return not any(m.status in bad for m in self.models) and not any(
            t.status in bad for t in self.tests
        )

    def count(self, status: NodeStatus) -> int:
        return sum(1 for t in self.tests if t.status == status)

    def failure_sentence(self, step: str) -> str:
        """The one sentence every orchestrator records for a transform that is not ok:
        ``Step 'dbt' failed: model(s) a (msg) failed; unit test t on model b error (msg);
        2 test(s) failed: t1 (5 rows), t2.`` An errored test (it could not run: a SQL error)
        carries the database's message; a failed one counts the rows that broke it."""
        bad = [m for m in self.models if m.status == NodeStatus.ERROR]
        errored = [t for t in self.tests if t.status == NodeStatus.ERROR]
        failed = [t for t in self.tests if t.status == NodeStatus.FAIL]
        parts = []
        if bad:
            shown = ", ".join(m.name + (f" ({m.message})" if m.message else "") for m in bad)
            parts.append(f"model(s) {shown} failed")
        for t in errored:
            kind = t.kind.replace("_", " ")
            where = f" on model {t.model}" if t.model else ""
            parts.append(f"{kind} {t.name}{where} error" + (f" ({t.message})" if t.message else ""))
        if failed:
            shown = ", ".join(
                t.name + (f" ({t.failures} rows)" if t.failures else "") for t in failed
            )
            parts.append(f"{len(failed)} test(s) failed: {shown}")
        return f"Step {step!r} failed: {'; '.join(parts) or 'the transform reported a failure'}."


class TransformNode(_Frozen):
    """One buildable node of a transform (a dbt model, seed or snapshot; a SQL model).

    ``depends_on`` names other nodes of the same transform, or tables (``schema.table``) it
    reads from the transform's sources. :mod:`stacks_contract.selection` walks these edges.
    """

    name: str
    table: TableRef | None = None
    depends_on: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class RunRecord(_Frozen):
    """One row of the run ledger. Build a finished one with :meth:`from_results`, whichever
    orchestrator ran the steps, so totals and failure sentences are the same everywhere."""

    run_id: str
    stack: str
    orchestrator: str
    trigger: TriggerKind
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    #: models built successfully (seeds and snapshots are counted apart)
    models_built: int = 0
    tests_passed: int = 0
    #: tests that failed or could not run (error)
    tests_failed: int = 0
    error: str | None = None
    #: EL steps that ran, in the order they finished
    steps: tuple[str, ...] = ()
    #: transform nodes built successfully, sorted
    models: tuple[str, ...] = ()
    #: tests that found rows but are configured to warn (dbt's ``severity: warn``)
    tests_warned: int = 0
    seeds_built: int = 0
    snapshots_built: int = 0
    #: where the transform left this run's artifacts (dbt's target/), when it says
    artifacts: str | None = None

    @classmethod
    def from_results(
        cls,
        request: RunRequest,
        *,
        stack: str,
        orchestrator: str,
        started_at: datetime,
        loads: Sequence[LoadResult] = (),
        transform: TransformResult | None = None,
        transform_step: str = "transform",
        error: str | None = None,
        finished_at: datetime | None = None,
    ) -> RunRecord:
        """The finished record of a run: rows summed per table over ``loads``, the transform's
        models and tests counted, status ``failed`` when ``error`` is given or the transform is
        not ok (its :meth:`TransformResult.failure_sentence` is then the error)."""
        rows: dict[str, int] = {}
        for load in loads:
            for table, n in load.rows.items():
                rows[table] = rows.get(table, 0) + int(n)
        built: tuple[str, ...] = ()
        passed = failed = warned = 0
        kinds: dict[str, int] = {}
        if transform is not None:
            ok = [m for m in transform.models if m.status == NodeStatus.SUCCESS]
            built = tuple(sorted(m.name for m in ok))
            for m in ok:
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
            passed = transform.count(NodeStatus.PASS)
            failed = transform.count(NodeStatus.FAIL) + transform.count(NodeStatus.ERROR)
            warned = transform.count(NodeStatus.WARN)
            if error is None and not transform.ok:
                error = transform.failure_sentence(transform_step)
        return cls(
            run_id=request.run_id,
            stack=stack,
            orchestrator=orchestrator,
            trigger=request.trigger,
            status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
            started_at=started_at,
            finished_at=finished_at or utcnow(),
            rows=rows,
            models_built=len(built) - kinds.get("seed", 0) - kinds.get("snapshot", 0),
            tests_passed=passed,
            tests_failed=failed,
            error=error,
            steps=tuple(load.step for load in loads),
            models=built,
            tests_warned=warned,
            seeds_built=kinds.get("seed", 0),
            snapshots_built=kinds.get("snapshot", 0),
            artifacts=transform.artifacts if transform is not None else None,
        )

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

    def metadata_columns(self) -> tuple[str, ...]:
        """Columns the stack's implementations declare as load metadata (exact names, or
        prefixes ending in ``*``): the fingerprint ignores them. ``_stacks_*`` is always one."""
        found = {"_stacks_*"}
        for part in (*self.el_steps, self.transform):
            found.update(getattr(part, "metadata_columns", ()) or ())
        return tuple(sorted(found))


class StackRef(_Frozen):
    """A serialisable, secret-free name for a stack a scheduler or worker rebuilds on its side.

    ``stack`` is the entry-point name (group ``stacks.stacks``). The warehouse is read from the
    environment variable ``warehouse_env`` when set, else from ``warehouse`` (a URL that must
    not carry a password, e.g. ``duckdb:///abs/path.duckdb``), else the default DuckDB file
    ``./.stacks/<stack>.duckdb``. Secrets never travel in a ref: DAG files, run payloads and
    workflow histories carry this, and each process reads credentials from its environment.
    """

    stack: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    warehouse_env: str = Field(default="STACKS_WAREHOUSE", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    warehouse: str | None = None

    @field_validator("warehouse")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from stacks_contract.warehouse import parse_warehouse

        parsed = parse_warehouse(v)
        secret = getattr(parsed, "password", None)
        if secret is not None and secret.get_secret_value():
            raise ValueError(
                "a StackRef must not carry a password: put the URL in the environment "
                "variable named by warehouse_env instead"
            )
        return parsed.redacted_url()

    def resolve_warehouse(self, env: Mapping[str, str] | None = None) -> Any:
        """The :data:`~stacks_contract.warehouse.Warehouse` this ref names, in this process."""
        import os

        from stacks_contract.warehouse import parse_warehouse

        env = os.environ if env is None else env
        return parse_warehouse(
            env.get(self.warehouse_env) or self.warehouse, default_name=self.stack
        )
