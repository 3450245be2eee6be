"""What the shop stacks (dagster-dlt-dbt, temporal-dlt-dbt, airflow-airbyte-dbt) share: one
orchestrator per stack object, one spec per warehouse (so repeated runs in one process, as
``stacks check`` makes them, reuse the tool's definitions and dbt's parse), and the hint that
shows how to query the marts."""

from __future__ import annotations

import contextlib
import os
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from stacks_contract.models import StackSpec
from stacks_contract.ports import Orchestrator, Stack
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

#: the shop stacks' session puts the shop's URL here (or finds the user's shop there)
SHOP_URL_ENV = "STACKS_SHOP_URL"

__all__ = ["SHOP_URL_ENV", "ShopStack", "marts_query_hints", "set_env", "shown"]


class ShopStack(Stack):
    """A shop stack: subclasses say how to build their orchestrator and their spec. Its source
    moves on like the real shop (``stacks check --advance N``): new orders, status changes,
    refunds of earlier payments."""

    advances_source: ClassVar[bool] = True
    #: where the shop the session started (or the user's) answers
    shop_url_env: ClassVar[str] = SHOP_URL_ENV

    def __init__(self) -> None:
        self._orchestrator: Orchestrator | None = None
        self._specs: dict[str, StackSpec] = {}

    @abstractmethod
    def make_orchestrator(self) -> Orchestrator:
        """A new orchestrator (tool imports happen here)."""

    @abstractmethod
    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        """The steps, bound to ``warehouse``."""

    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            self._orchestrator = self.make_orchestrator()
        return self._orchestrator

    def advance_source(self, warehouse: Warehouse, steps: int = 1) -> None:
        """Move the shop's clock ``steps`` days through its admin endpoint (the session's shop,
        or the one ``$STACKS_SHOP_URL`` names)."""
        import urllib.request

        from stacks_contract.errors import ConfigError

        url = os.environ.get(self.shop_url_env)
        if not url:
            raise ConfigError(f"No shop to advance: ${self.shop_url_env} is not set.")
        advance = urllib.request.Request(f"{url}/admin/advance?days={int(steps)}", method="POST")
        with urllib.request.urlopen(advance, timeout=30) as resp:
            resp.read()

    def spec(self, warehouse: Warehouse) -> StackSpec:
        key = warehouse.model_dump_json()
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = self.build_spec(warehouse)
        return spec


def marts_query_hints(warehouse: Warehouse, schema: str) -> list[str]:
    """How to look at ``schema.daily_revenue``: the duckdb Python package (always installed) or
    psql (no password in a hint: psql asks for it, or reads PGPASSWORD / ~/.pgpass)."""
    query = f"select * from {schema}.daily_revenue order by order_date desc limit 5"
    if isinstance(warehouse, DuckDBWarehouse):
        path = shown(warehouse.path)
        return [
            f'Query the marts: duckdb {path} "{query}"',
            # the duckdb CLI is a separate install; the Python package is always there
            '  or, without the duckdb CLI: uv run python -c "import duckdb; '
            f"duckdb.connect('{path}', read_only=True).sql('{query}').show()\"",
        ]
    if isinstance(warehouse, PostgresWarehouse):
        return [
            f"Query the marts: psql -h {warehouse.host} -p {warehouse.port} "
            f'-U {warehouse.user} -d {warehouse.database} -c "{query}"'
        ]
    return []


def shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


@contextlib.contextmanager
def set_env(key: str, value: str) -> Iterator[None]:
    """``$key`` set to ``value`` for the block; the previous value (or none) restored after."""
    before = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
