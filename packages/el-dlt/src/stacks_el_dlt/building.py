"""What a step's source factory returns, as one dlt source; the checks before dlt runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stacks_contract.errors import ConfigError, StacksError
from stacks_contract.warehouse import PostgresWarehouse, Warehouse

__all__ = ["build_source", "ident", "is_dlt_object", "preflight"]


def build_source(step: str, factory: Callable[[], Any], mask: Callable[[str], str]) -> Any:
    """``factory()`` as a dlt source: a source as is, resources wrapped in one."""
    from dlt.common.schema import Schema
    from dlt.extract import DltResource, DltSource

    from stacks_el_dlt._config import apply_dlt_defaults
    from stacks_el_dlt.errors import one_line

    apply_dlt_defaults()
    try:
        obj = factory()
    except StacksError:
        raise
    except Exception as exc:
        raise ConfigError(
            mask(f"Step {step!r}: building the dlt source failed: {one_line(exc)}")
        ) from None
    if isinstance(obj, DltSource):
        return obj
    if isinstance(obj, DltResource):
        resources = [obj]
    elif isinstance(obj, list | tuple) and all(isinstance(r, DltResource) for r in obj):
        resources = list(obj)
    else:
        raise ConfigError(
            f"Step {step!r}: the source factory returned {type(obj).__name__}, "
            "expected a dlt source, a dlt resource or a list of resources."
        )
    return DltSource(Schema(ident(step)), "stacks", resources)


def is_dlt_object(obj: Any) -> bool:
    import sys

    if "dlt.extract" not in sys.modules:
        return False  # no dlt object exists before dlt is imported: building a step stays cheap
    try:
        from dlt.extract import DltResource, DltSource
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, DltSource | DltResource)


def ident(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name.lower())
    return out if out and not out[0].isdigit() else f"s_{out}"


def preflight(warehouse: Warehouse) -> None:
    # one cheap connection first: a wrong host or password becomes one clear sentence instead of
    # a dlt traceback after the extract ran
    if isinstance(warehouse, PostgresWarehouse):
        from stacks_core.sql import connect

        connect(warehouse).close()
