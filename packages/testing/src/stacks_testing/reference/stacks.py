"""A whole reference stack, its seed data, and the factories that rebuild steps from the
environment in a fresh interpreter (how the SIGKILL tests start them)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    StackSpec,
)
from stacks_core.sql import qualified

from stacks_testing.reference.el import ReferenceELStep
from stacks_testing.reference.source import ENV_STACK, ENV_STEP, ENV_TRANSFORM, ReferenceSource, ts
from stacks_testing.reference.transform import ReferenceSqlTransform, SqlModel, SqlTest

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
            "updated_at": ts(base + timedelta(hours=i)),
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
            "updated_at": ts(base + timedelta(hours=i, minutes=30)),
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
    return _stack(_env_json(ENV_STACK))


def stack_from_json(text: str) -> StackSpec:
    """The stack :func:`stack_spec_json` wrote (a DAG file or worker rebuilding it)."""
    return _stack(json.loads(text))


def _stack(spec: dict[str, Any]) -> StackSpec:
    return StackSpec(
        name=spec["name"],
        el_steps=tuple(ReferenceELStep.from_spec(s) for s in spec["el_steps"]),
        transform=(
            ReferenceSqlTransform.from_spec(spec["transform"]) if spec.get("transform") else None
        ),
    )
