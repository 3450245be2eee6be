"""The shared warehouse fixtures (``warehouse``, ``postgres_warehouse``, ...) for these tests."""

import sys
from pathlib import Path

from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home
# helper modules beside the tests (dagster_backfill) import by name (importlib mode)
sys.path.insert(0, str(Path(__file__).parent))
