"""The shared warehouse fixtures (``warehouse``, ``postgres_warehouse``, ...) for these tests."""

from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home
