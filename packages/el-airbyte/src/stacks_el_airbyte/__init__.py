"""stacks EL over Airbyte: :class:`AirbyteStep` drives Airbyte's public API (a real Airbyte, or
the local engine of the ``[local]`` extra, :class:`stacks_el_airbyte.local.server.LocalEngine`)."""

from stacks_el_airbyte.client import Credentials
from stacks_el_airbyte.step import AirbyteStep

__all__ = ["AirbyteStep", "Credentials"]
