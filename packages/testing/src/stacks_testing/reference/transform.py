"""The reference SQL transform: ``create table ... as select`` models in order, then SQL tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from stacks_contract.errors import ConfigError, StepFailed
from stacks_contract.models import (
    ModelResult,
    NodeStatus,
    RunRequest,
    TableRef,
    TestResult,
    TransformNode,
    TransformResult,
    utcnow,
)
from stacks_contract.ports import Reporter, Transform, silent
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect, qualified, quote_ident

from stacks_testing.reference.source import db_message, transaction

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
                    with transaction(conn):
                        conn.execute(f"drop table if exists {target}")
                        conn.execute(
                            f"create table {target} as select m.*, '{run_id}' as _stacks_run_id "
                            f"from ({select}) as m"
                        )
                        n = conn.count(self.schema, m.name)
                except Exception as exc:
                    raise StepFailed(
                        self.name, f"model {m.name!r}: {db_message(exc, warehouse)}"
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
                            message=db_message(exc, warehouse),
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
