"""The local Airbyte engine (extra ``[local]``): :class:`LocalEngine` serves Airbyte's public API
subset on localhost and runs each sync in an :class:`~stacks_el_airbyte.local.model.Executor`."""

from stacks_el_airbyte.local.server import LocalEngine

__all__ = ["LocalEngine"]
