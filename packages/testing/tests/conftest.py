"""The shared warehouse fixtures (``warehouse``, ``postgres_warehouse``, ...) for these tests."""

import os

pytest_plugins = ("stacks_testing.plugin",)

# the tools these tests drive must not phone home
for _key, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_key, _value)
