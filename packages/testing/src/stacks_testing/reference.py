"""Tool-free reference implementations of the ports, in plain SQL over :mod:`stacks_core.sql`.

They exist so the conformance suites can be proven on something real before any tool package
lands, and so the orchestrator suite has steps every orchestrator must be able to run through the
ports alone:

* :class:`ReferenceSource`: a JSON-lines "source" on disk (so a subprocess sees the same data);
* :class:`ReferenceELStep`: merges that source on its primary key inside one transaction,
  incremental on an ``updated_at`` cursor kept in the warehouse, stamping ``_stacks_run_id`` and
  ``_stacks_loaded_at``;
* :class:`ReferenceSqlTransform`: ``create table ... as select`` models, in order, plus SQL tests;
* deliberately broken steps (:class:`AppendOnlyELStep`, :class:`ForgetfulELStep`,
  :class:`RunIdIgnoringELStep`, :class:`CursorFirstELStep`) that the suites must catch.

Every object can be rebuilt in a fresh interpreter from JSON in an environment variable
(:func:`el_step_from_env`, :func:`transform_from_env`, :func:`stack_from_env`), which is how the
SIGKILL tests start them in :mod:`stacks_testing.runner`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import ConfigError, StacksError, StepFailed
from stacks_contract.models import (
    LoadResult,
    ModelResult,
    NodeStatus,
    RunRequest,
    StackSpec,
    TableRef,
    TestResult,
    TransformNode,
    TransformResult,
    utcnow,
)
from stacks_contract.ports import ChangeProbe, ELStep, Reporter, Transform, silent
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.sql import Connection, connect, qualified, quote_ident

__all__ = [
    "ENV_STACK",
    "ENV_STEP",
    "ENV_TRANSFORM",
    "AppendOnlyELStep",
    "CursorFirstELStep",
    "ForgetfulELStep",
    "ReferenceELStep",
    "ReferenceSource",
    "ReferenceSqlTransform",
    "RunIdIgnoringELStep",
    "SqlModel",
    "SqlTest",
    "el_step_from_env",
    "reference_stack",
    "stack_from_env",
    "transform_from_env",
]

ENV_STEP = "STACKS_REFERENCE_STEP"
ENV_TRANSFORM = "STACKS_REFERENCE_TRANSFORM"
ENV_STACK = "STACKS_REFERENCE_STACK"

STATE_SCHEMA = "stacks_meta"
STATE_TABLE = "_stacks_reference_state"
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TS_FORMAT)


# --- the source ---------------------------------------------------------------------------------


class ReferenceSource:
    """A JSON-lines file standing in for a source system. Each row has ``id`` (or the given key
    columns) and ``updated_at`` (ISO-8601 UTC); updates bump ``updated_at`` past every row."""

    def __init__(self, path: str | Path, key: Sequence[str] = ("id",)) -> None:
        self.path = Path(path)
        self.key = tuple(key)

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        # write-then-rename: a reader (maybe another process) never sees half a file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        tmp.replace(self.path)

    def next_timestamp(self) -> str:
        stamps = [r["updated_at"] for r in self.rows() if r.get("updated_at")]
        latest = max(stamps) if stamps else "2024-01-01T00:00:00Z"
        return _ts(datetime.strptime(latest, TS_FORMAT).replace(tzinfo=UTC) + timedelta(days=1))

    def append(self, row: dict[str, Any]) -> dict[str, Any]:
        row = {"updated_at": self.next_timestamp(), **row}
        self.write([*self.rows(), row])
        return row

    def update(self, key: dict[str, Any], column: str, value: Any) -> None:
        stamp = self.next_timestamp()
        rows, hit = self.rows(), False
        for r in rows:
            if all(r.get(k) == v for k, v in key.items()):
                r[column], r["updated_at"], hit = value, stamp, True
        if not hit:
            raise KeyError(f"no source row with key {key}")
        self.write(rows)


# --- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """One database transaction on the autocommit wrapper (same statements on both engines)."""
    conn.execute("begin")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("rollback")
        raise
    conn.execute("commit")


def _sql_type(values: Iterable[Any], dialect: str) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {bool}:
        return "boolean"
    if kinds and kinds <= {int}:
        return "bigint"
    if kinds and kinds <= {int, float}:
        return "double precision" if dialect == "postgres" else "double"
    return "varchar"


def _cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def _db_message(exc: BaseException, warehouse: Warehouse) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return redact(text, warehouse)


# --- EL -----------------------------------------------------------------------------------------


class ReferenceELStep(ELStep, ChangeProbe):
    """Loads one JSON-lines source into ``schema.table``: merge on ``primary_key``, incremental on
    ``cursor`` (strictly greater than the last loaded value, kept in ``stacks_meta``), everything
    (DDL, delete+insert, cursor) in one transaction so a kill at any point leaves the previous
    state intact."""

    incremental: ClassVar[bool] = True
    stamps_run_id: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        source: str | Path,
        table: str,
        *,
        schema: str = "raw",
        primary_key: Sequence[str] = ("id",),
        cursor: str = "updated_at",
    ) -> None:
        self.name = name
        self.source = Path(source)
        self.table = TableRef(schema=schema, name=table)
        self.primary_key = tuple(primary_key)
        self.cursor = cursor

    def source_version(self) -> str:
        """A digest of the source file: changes whenever a row is added or changed."""
        data = self.source.read_bytes() if self.source.exists() else b""
        return hashlib.sha1(data).hexdigest()[:16]

    # rebuilt from JSON in a subprocess
    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "name": self.name,
            "source": str(self.source),
            "table": self.table.name,
            "schema": self.table.schema_name,
            "primary_key": list(self.primary_key),
            "cursor": self.cursor,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ReferenceELStep:
        spec = dict(spec)
        klass = _EL_CLASSES[spec.pop("class", "ReferenceELStep")]
        return klass(
            spec["name"],
            spec["source"],
            spec["table"],
            schema=spec.get("schema", "raw"),
            primary_key=spec.get("primary_key", ("id",)),
            cursor=spec.get("cursor", "updated_at"),
        )

    def produces(self) -> tuple[TableRef, ...]:
        return (self.table,)

    def read_source(self) -> list[dict[str, Any]]:
        if not self.source.exists():
            raise StepFailed(self.name, f"the source {self.source} does not exist.")
        files = sorted(self.source.glob("*.jsonl")) if self.source.is_dir() else [self.source]
        rows: list[dict[str, Any]] = []
        for f in files:
            for n, line in enumerate(f.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StepFailed(
                        self.name, f"line {n} of {f} is not valid JSON ({exc.msg})."
                    ) from None
                missing = [k for k in (*self.primary_key, self.cursor) if row.get(k) is None]
                if missing:
                    raise StepFailed(self.name, f"line {n} of {f} has no {', '.join(missing)}.")
                rows.append(row)
        return rows

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        rows = self.read_source()
        try:
            with connect(warehouse) as conn, _transaction(conn):
                written, cursor = self._load(
                    conn, rows, request.run_id, started, full_refresh=request.full_refresh
                )
        except StacksError:
            raise
        except Exception as exc:
            raise StepFailed(self.name, _db_message(exc, warehouse)) from None
        report(self.name, f"{written} rows -> {self.table}")
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            load_id=request.run_id,
            rows={self.table.key: written},
            cursor={self.table.name: cursor},
            started_at=started,
            finished_at=utcnow(),
        )

    # -- the load, inside one transaction --

    def _load(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        run_id: str,
        loaded_at: datetime,
        *,
        full_refresh: bool = False,
    ) -> tuple[int, Any]:
        # a full refresh ignores the cursor and replaces the table's rows with the source's
        last = self._read_cursor(conn) if self.incremental and not full_refresh else None
        if last is not None:
            rows = [r for r in rows if r[self.cursor] > last]
        # one row per key: the latest by cursor (stable sort keeps file order among equals)
        latest: dict[tuple, dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: r[self.cursor]):
            latest[tuple(r[k] for k in self.primary_key)] = r
        batch = list(latest.values())
        self._ensure_table(conn, batch)
        if full_refresh:
            conn.execute(f"delete from {qualified(self.table.schema_name, self.table.name)}")
        if batch:
            self._write(conn, batch, run_id, loaded_at)
        new_cursor = max([r[self.cursor] for r in batch], default=last)
        if self.incremental and new_cursor is not None:
            self._write_cursor(conn, new_cursor)
        return len(batch), new_cursor

    def _ensure_table(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        columns: dict[str, list[Any]] = {}
        for r in rows:
            for k, v in r.items():
                columns.setdefault(k, []).append(v)
        schema, table = self.table.schema_name, self.table.name
        conn.execute(f"create schema if not exists {quote_ident(schema)}")
        existing = conn.columns(schema, table)
        if not existing:
            defs = [f"{quote_ident(c)} {_sql_type(v, conn.dialect)}" for c, v in columns.items()]
            defs += ["_stacks_run_id varchar", "_stacks_loaded_at timestamptz"]
            conn.execute(f"create table {qualified(schema, table)} ({', '.join(defs)})")
            return
        for c, v in columns.items():  # schema evolution: new source columns are added
            if c not in existing:
                conn.execute(
                    f"alter table {qualified(schema, table)} add column {quote_ident(c)} "
                    f"{_sql_type(v, conn.dialect)}"
                )

    def _columns(self, rows: list[dict[str, Any]]) -> list[str]:
        return list(dict.fromkeys(k for r in rows for k in r))

    def _insert(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str | None, loaded_at: datetime
    ) -> None:
        cols = self._columns(rows)
        names = ", ".join([*map(quote_ident, cols), "_stacks_run_id", "_stacks_loaded_at"])
        marks = ", ".join("?" * (len(cols) + 2))
        conn.executemany(
            f"insert into {qualified(self.table.schema_name, self.table.name)} ({names}) "
            f"values ({marks})",
            [[*(_cell(r.get(c)) for c in cols), run_id, loaded_at] for r in rows],
        )

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        where = " and ".join(f"{quote_ident(k)} = ?" for k in self.primary_key)
        conn.executemany(
            f"delete from {qualified(self.table.schema_name, self.table.name)} where {where}",
            [[r[k] for k in self.primary_key] for r in rows],
        )
        self._insert(conn, rows, run_id, loaded_at)

    def _ensure_state(self, conn: Connection) -> None:
        conn.execute(f"create schema if not exists {STATE_SCHEMA}")
        conn.execute(
            f"create table if not exists {STATE_SCHEMA}.{STATE_TABLE} ("
            "step varchar not null, table_key varchar not null, cursor_json varchar not null, "
            "primary key (step, table_key))"
        )

    def _read_cursor(self, conn: Connection) -> Any:
        self._ensure_state(conn)
        rows = conn.execute(
            f"select cursor_json from {STATE_SCHEMA}.{STATE_TABLE} "
            "where step = ? and table_key = ?",
            [self.name, self.table.key],
        )
        # a cursor without its table (dropped by hand) must not skip the whole source
        if not rows or not conn.columns(self.table.schema_name, self.table.name):
            return None
        return json.loads(rows[0][0])

    def _write_cursor(self, conn: Connection, value: Any) -> None:
        self._ensure_state(conn)
        conn.execute(
            f"insert into {STATE_SCHEMA}.{STATE_TABLE} (step, table_key, cursor_json) "
            "values (?, ?, ?) on conflict (step, table_key) do update set "
            "cursor_json = excluded.cursor_json",
            [self.name, self.table.key, json.dumps(value)],
        )


class AppendOnlyELStep(ReferenceELStep):
    """BROKEN on purpose: appends every source row on every run (no merge, no cursor), so a
    second run duplicates everything. The suites must fail it."""

    incremental: ClassVar[bool] = False

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        self._insert(conn, rows, run_id, loaded_at)


class ForgetfulELStep(ReferenceELStep):
    """BROKEN on purpose: a rerun rebuilds the table but drops the last source row."""

    incremental: ClassVar[bool] = False

    def _write(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str, loaded_at: datetime
    ) -> None:
        target = qualified(self.table.schema_name, self.table.name)
        rerun = conn.count(self.table.schema_name, self.table.name) > 0
        conn.execute(f"delete from {target}")
        self._insert(conn, rows[:-1] if rerun else rows, run_id, loaded_at)


class RunIdIgnoringELStep(ReferenceELStep):
    """BROKEN on purpose: stamps an id of its own instead of the request's run id."""

    def _insert(
        self, conn: Connection, rows: list[dict[str, Any]], run_id: str | None, loaded_at: datetime
    ) -> None:
        super()._insert(conn, rows, f"own-{uuid.uuid4().hex[:8]}", loaded_at)


class CursorFirstELStep(ReferenceELStep):
    """BROKEN on purpose: commits the table and the new cursor, pauses, then loads the rows in a
    second transaction. A kill in between leaves the cursor past rows that never landed, so the
    re-run loads nothing (the inverse of dlt#4052)."""

    pause_seconds: ClassVar[float] = 3.0

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        rows = self.read_source()
        with connect(warehouse) as conn:
            last = self._read_cursor(conn)
            batch = [r for r in rows if last is None or r[self.cursor] > last]
            with _transaction(conn):
                self._ensure_table(conn, batch)
                if batch:
                    self._write_cursor(conn, max(r[self.cursor] for r in batch))
            time.sleep(self.pause_seconds)
            with _transaction(conn):
                if batch:
                    self._write(conn, batch, request.run_id, started)
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            rows={self.table.key: len(batch)},
            started_at=started,
            finished_at=utcnow(),
        )


_EL_CLASSES: dict[str, type[ReferenceELStep]] = {
    c.__name__: c
    for c in (
        ReferenceELStep,
        AppendOnlyELStep,
        ForgetfulELStep,
        RunIdIgnoringELStep,
        CursorFirstELStep,
    )
}


# --- transform ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlModel:
    """``select`` is materialised as ``schema.name``; ``{schema}`` in it names the transform's
    schema (for model-to-model references). ``depends_on`` lists upstream model names and the
    source tables (``schema.table``) it reads."""

    name: str
    select: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class SqlTest:
    """A data test: ``select`` returns the failing rows (``{schema}`` as in :class:`SqlModel`)."""

    name: str
    model: str
    select: str


@dataclass(eq=False)  # identity hashing: orchestrators may key dicts by step objects
class ReferenceSqlTransform(Transform):
    """Builds each model with ``drop table if exists; create table ... as select`` in its own
    transaction (readers never see a missing table), stamping the run id, then runs the tests
    of the models it built. A SQL error raises :class:`StepFailed` naming the model."""

    supports_selection: ClassVar[bool] = True
    stamps_run_id: ClassVar[bool] = True

    name: str
    models: tuple[SqlModel, ...]
    sources: tuple[TableRef, ...]
    schema: str = "analytics"
    tests: tuple[SqlTest, ...] = field(default=())

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "models": [asdict(m) for m in self.models],
            "sources": [t.key for t in self.sources],
            "schema": self.schema,
            "tests": [asdict(t) for t in self.tests],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ReferenceSqlTransform:
        return cls(
            name=spec["name"],
            models=tuple(
                SqlModel(m["name"], m["select"], tuple(m.get("depends_on", ())))
                for m in spec["models"]
            ),
            sources=tuple(TableRef.parse(t) for t in spec["sources"]),
            schema=spec.get("schema", "analytics"),
            tests=tuple(SqlTest(**t) for t in spec.get("tests", ())),
        )

    def consumes(self) -> tuple[TableRef, ...]:
        return self.sources

    def produces(self) -> tuple[TableRef, ...]:
        return tuple(TableRef(schema=self.schema, name=m.name) for m in self.models)

    def nodes(self) -> tuple[TransformNode, ...]:
        return tuple(
            TransformNode(
                name=m.name,
                table=TableRef(schema=self.schema, name=m.name),
                depends_on=m.depends_on,
            )
            for m in self.models
        )

    def selected(self, select: Sequence[str]) -> list[SqlModel]:
        """Exactly the named models (all when ``select`` is empty), in build order."""
        if not select:
            return list(self.models)
        known = {m.name for m in self.models}
        unknown = [s for s in select if s not in known]
        if unknown:
            raise ConfigError(
                f"Transform {self.name!r} has no model {', '.join(map(repr, unknown))} "
                f"(models: {', '.join(sorted(known))})."
            )
        return [m for m in self.models if m.name in set(select)]

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> TransformResult:
        started = utcnow()
        models: list[ModelResult] = []
        tests: list[TestResult] = []
        todo = self.selected(request.select)
        run_id = request.run_id.replace("'", "''")  # the pattern forbids quotes; belt and braces
        with connect(warehouse) as conn:
            conn.execute(f"create schema if not exists {quote_ident(self.schema)}")
            for m in todo:
                t0 = time.perf_counter()
                target = qualified(self.schema, m.name)
                select = m.select.replace("{schema}", quote_ident(self.schema))
                try:
                    with _transaction(conn):
                        conn.execute(f"drop table if exists {target}")
                        conn.execute(
                            f"create table {target} as select m.*, '{run_id}' as _stacks_run_id "
                            f"from ({select}) as m"
                        )
                        n = conn.count(self.schema, m.name)
                except Exception as exc:
                    raise StepFailed(
                        self.name, f"model {m.name!r}: {_db_message(exc, warehouse)}"
                    ) from None
                report(self.name, f"built {target} ({n} rows)")
                models.append(
                    ModelResult(
                        name=m.name,
                        table=TableRef(schema=self.schema, name=m.name),
                        status=NodeStatus.SUCCESS,
                        seconds=time.perf_counter() - t0,
                        rows_affected=n,
                    )
                )
            built = {m.name for m in todo}
            for t in self.tests:
                if t.model not in built:
                    continue
                select = t.select.replace("{schema}", quote_ident(self.schema))
                try:
                    failures = int(conn.execute(f"select count(*) from ({select}) as t")[0][0])
                except Exception as exc:
                    tests.append(
                        TestResult(
                            name=t.name,
                            model=t.model,
                            status=NodeStatus.ERROR,
                            message=_db_message(exc, warehouse),
                        )
                    )
                    continue
                tests.append(
                    TestResult(
                        name=t.name,
                        model=t.model,
                        status=NodeStatus.PASS if failures == 0 else NodeStatus.FAIL,
                        failures=failures,
                        message=None if failures == 0 else f"{failures} failing rows",
                    )
                )
        return TransformResult(
            run_id=request.run_id,
            models=tuple(models),
            tests=tuple(tests),
            started_at=started,
            finished_at=utcnow(),
        )


# --- a whole reference stack --------------------------------------------------------------------


def seed_sources(root: str | Path, customers: int = 8, orders: int = 24) -> dict[str, Path]:
    """Write deterministic ``customers.jsonl`` and ``orders.jsonl`` under ``root``."""
    root = Path(root)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    cust = ReferenceSource(root / "customers.jsonl")
    cust.write(
        {
            "id": i,
            "name": f"customer {i}",
            "country": ["DE", "FR", "US"][i % 3],
            "updated_at": _ts(base + timedelta(hours=i)),
        }
        for i in range(1, customers + 1)
    )
    ords = ReferenceSource(root / "orders.jsonl")
    ords.write(
        {
            "id": i,
            "customer_id": (i * 7) % customers + 1,
            "amount": round(10 + (i * 37) % 90 + (i % 4) * 0.25, 2),
            "status": ["placed", "shipped", "delivered"][i % 3],
            "updated_at": _ts(base + timedelta(hours=i, minutes=30)),
        }
        for i in range(1, orders + 1)
    )
    return {"customers": cust.path, "orders": ords.path}


def reference_stack(
    root: str | Path,
    *,
    name: str = "reference",
    raw_schema: str = "raw",
    schema: str = "analytics",
    seed: bool = True,
) -> StackSpec:
    """Two EL steps (``customers``, ``orders``) and a transform reading both: ``customer_orders``
    (per-customer totals) and ``top_customers`` (built on it). Sources live under ``root``."""
    root = Path(root)
    if seed and not (root / "customers.jsonl").exists():
        seed_sources(root)
    customers = ReferenceELStep(
        "customers", root / "customers.jsonl", "customers", schema=raw_schema
    )
    orders = ReferenceELStep("orders", root / "orders.jsonl", "orders", schema=raw_schema)
    c, o = qualified(raw_schema, "customers"), qualified(raw_schema, "orders")
    transform = ReferenceSqlTransform(
        name="sql",
        schema=schema,
        sources=(customers.table, orders.table),
        models=(
            SqlModel(
                "customer_orders",
                f"select c.id as customer_id, c.name, c.country, count(o.id) as orders, "
                f"coalesce(sum(o.amount), 0) as amount from {c} as c left join {o} as o "
                f"on o.customer_id = c.id group by c.id, c.name, c.country",
                depends_on=(customers.table.key, orders.table.key),
            ),
            SqlModel(
                "top_customers",
                "select customer_id, name, amount from {schema}.customer_orders "
                "where orders > 0 order by amount desc, customer_id limit 3",
                depends_on=("customer_orders",),
            ),
        ),
        tests=(
            SqlTest(
                "customer_orders_unique",
                "customer_orders",
                "select customer_id from {schema}.customer_orders group by customer_id "
                "having count(*) > 1",
            ),
        ),
    )
    return StackSpec(name=name, el_steps=(customers, orders), transform=transform)


def stack_spec_json(stack: StackSpec) -> str:
    """JSON that :func:`stack_from_env` turns back into ``stack`` (reference steps only)."""
    return json.dumps(
        {
            "name": stack.name,
            "el_steps": [s.spec() for s in stack.el_steps],
            "transform": stack.transform.spec() if stack.transform is not None else None,
        }
    )


def _env_json(var: str) -> dict[str, Any]:
    raw = os.environ.get(var)
    if not raw:
        raise ConfigError(f"The environment variable {var} is not set.")
    return json.loads(raw)


def el_step_from_env() -> ReferenceELStep:
    """Factory for the runner: the step described by ``$STACKS_REFERENCE_STEP``."""
    return ReferenceELStep.from_spec(_env_json(ENV_STEP))


def transform_from_env() -> ReferenceSqlTransform:
    """Factory for the runner: the transform described by ``$STACKS_REFERENCE_TRANSFORM``."""
    return ReferenceSqlTransform.from_spec(_env_json(ENV_TRANSFORM))


def stack_from_env() -> StackSpec:
    """Factory for the runner: the stack described by ``$STACKS_REFERENCE_STACK``."""
    spec = _env_json(ENV_STACK)
    return StackSpec(
        name=spec["name"],
        el_steps=tuple(ReferenceELStep.from_spec(s) for s in spec["el_steps"]),
        transform=(
            ReferenceSqlTransform.from_spec(spec["transform"]) if spec.get("transform") else None
        ),
    )
