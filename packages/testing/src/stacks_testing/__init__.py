"""stacks-testing: the test kit every stacks package tests itself with.

* :mod:`stacks_testing.suites`: conformance suites (``BaseELSuite``, ``BaseTransformSuite``,
  ``BaseOrchestratorSuite``, ``BaseTriggerSuite``) a package subclasses;
* :mod:`stacks_testing.reference`: tool-free reference steps the suites run;
* :mod:`stacks_testing.plugin`: the opt-in pytest plugin with the Postgres/DuckDB fixtures
  (``pytest_plugins = ("stacks_testing.plugin",)`` in a ``conftest.py``);
* :mod:`stacks_demo.shop`: the deterministic demo shop API the stacks load.
"""

import os

__all__ = ["TELEMETRY_OFF", "telemetry_off"]

#: what keeps dbt, dlt and the rest from phoning home (DO_NOT_TRACK: Dagster, PyAirbyte, ...)
TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def telemetry_off() -> None:
    """Turn the tools' telemetry off for this process, unless the user chose otherwise. Called
    explicitly by a package's ``conftest.py``: importing the test kit sets nothing."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
