"""The public-style dbt project (``public_shop/``, its local package ``shop_utils/``) as a stack:
two EL steps loading JSON-lines sources into ``raw``, the project as the transform, the Local
orchestrator. ``stacks run path/to/public_stack.py:stack`` runs it (the sources live in
``$PUBLIC_SHOP_SOURCES``, default ``./.stacks/public-shop-sources``, seeded on first use;
``$PUBLIC_SHOP_PROJECT`` points at another copy of the project)."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from stacks_contract.models import StackSpec
from stacks_contract.ports import Orchestrator, Stack
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from stacks_core.local import LocalOrchestrator
from stacks_testing.reference import ReferenceELStep, ReferenceSource
from stacks_testing.reference.source import ts

HERE = Path(__file__).parent
PROJECT = HERE / "public_shop"
PACKAGE = HERE / "shop_utils"
SOURCES_ENV = "PUBLIC_SHOP_SOURCES"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAMES = [("Ann", "Lee", "DE"), ("Bo", "Ng", "FR"), ("Cy", "Ox", "US"), ("Di", "Yu", "GB")]
STATUSES = ["placed", "shipped", "placed", "returned"]
#: the models (and seed, snapshot) the project builds
NODES = (
    "country_codes",
    "customer_versions",
    "customers",
    "customers_snapshot",
    "orders",
    "stg_customers",
    "stg_orders",
)


def seed(root: Path) -> Path:
    """Write 4 customers and 12 orders (one ``returned``: the warn test fires) under ``root``."""
    ReferenceSource(root / "customers.jsonl").write(
        {
            "id": i,
            "first_name": first,
            "last_name": last,
            "country": country,
            "updated_at": ts(T0 + timedelta(hours=i)),
        }
        for i, (first, last, country) in enumerate(NAMES, start=1)
    )
    ReferenceSource(root / "orders.jsonl").write(
        {
            "id": i,
            "customer_id": i % 4 + 1,
            "status": STATUSES[i % 4] if i == 3 else STATUSES[i % 3],
            "amount_cents": 1000 + 125 * i,
            "updated_at": ts(T0 + timedelta(days=i)),
        }
        for i in range(1, 13)
    )
    return root


def rename_customer(root: Path, customer_id: int, last_name: str) -> None:
    """A legitimate source change: a customer's name changes (the snapshot keeps both)."""
    src = ReferenceSource(root / "customers.jsonl")
    rows = src.rows()
    stamp = src.next_timestamp()
    for r in rows:
        if r["id"] == customer_id:
            r.update(last_name=last_name, updated_at=stamp)
    src.write(rows)


def tree_digest(*roots: Path) -> str:
    """Every path and byte under ``roots``: a project must be exactly as it was."""
    h = hashlib.sha1()
    for root in roots:
        for p in sorted(root.rglob("*")):
            h.update(str(p.relative_to(root.parent)).encode())
            if p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def copy_project(dest: Path) -> Path:
    """The project and its package copied side by side (``../shop_utils`` still resolves)."""
    shutil.copytree(PROJECT, dest / PROJECT.name, dirs_exist_ok=True)
    shutil.copytree(PACKAGE, dest / PACKAGE.name, dirs_exist_ok=True)
    return dest / PROJECT.name


def plain_dbt_build(project: Path, warehouse: Warehouse) -> None:
    """``dbt deps`` and ``dbt build`` as a team runs them, with its own profiles.yml."""
    from dbt.cli.main import dbtRunner
    from stacks_transform_dbt.invocation import release_duckdb

    if isinstance(warehouse, DuckDBWarehouse):
        output = {"type": "duckdb", "path": str(warehouse.path)}
    else:
        assert isinstance(warehouse, PostgresWarehouse)
        output = {
            "type": "postgres",
            "host": warehouse.host,
            "port": warehouse.port,
            "user": warehouse.user,
            "password": warehouse.password.get_secret_value(),
            "dbname": warehouse.database,
        }
    profile = {
        "public_shop": {
            "target": "dev",
            "outputs": {"dev": {**output, "schema": "analytics", "threads": 2}},
        }
    }
    (project / "profiles.yml").write_text(yaml.safe_dump(profile))
    flags = ["--project-dir", str(project), "--profiles-dir", str(project), "--log-level", "none"]
    try:
        assert dbtRunner().invoke(["deps", *flags]).success
        assert dbtRunner().invoke(["build", *flags]).success
    finally:
        release_duckdb()


def spec(sources: Path, project: Path = PROJECT, **dbt: Any) -> StackSpec:
    from stacks_transform_dbt import DbtTransform

    return StackSpec(
        name="public-shop",
        el_steps=(
            ReferenceELStep("customers", sources / "customers.jsonl", "customers"),
            ReferenceELStep("orders", sources / "orders.jsonl", "orders"),
        ),
        transform=DbtTransform(project, **dbt),
    )


class PublicShopStack(Stack):
    name = "public-shop"
    description = "A public-style dbt project with packages, a snapshot and a unit test."

    def orchestrator(self) -> Orchestrator:
        return LocalOrchestrator()

    def spec(self, warehouse: Warehouse) -> StackSpec:
        root = Path(os.environ.get(SOURCES_ENV) or Path(".stacks") / "public-shop-sources")
        if not (root / "orders.jsonl").exists():
            seed(root)
        return spec(root, Path(os.environ.get("PUBLIC_SHOP_PROJECT") or PROJECT))


def stack() -> PublicShopStack:
    return PublicShopStack()
