"""Asset keys and names: one rule for every asset a stack becomes."""

from __future__ import annotations

import re
from typing import Any

from stacks_contract.models import TableRef

__all__ = ["EL_GROUP", "TRANSFORM_GROUP", "op_name", "table_key"]

EL_GROUP = "el"
TRANSFORM_GROUP = "transform"


def op_name(name: str) -> str:
    """A Dagster op name from anything: letters, digits and underscores only."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def table_key(table: TableRef) -> Any:
    from dagster import AssetKey

    return AssetKey([table.schema_name, table.name])
