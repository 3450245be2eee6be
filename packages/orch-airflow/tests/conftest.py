"""Fixtures for the Airflow tests: one Airflow home (SQLite metadata DB) per test session.

AIRFLOW_HOME is set here, before anything imports Airflow (dlt does when it is installed), so no
test creates ``~/airflow``; subprocesses inherit it and reuse the migrated DB.
"""

import os
import tempfile

pytest_plugins = ("stacks_testing.plugin",)

if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="stacks-airflow-tests-")
    os.environ["AIRFLOW_HOME"] = _home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_home, "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"

# the tools these tests drive must not phone home
for _key, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}.items():
    os.environ.setdefault(_key, _value)
