"""Fixtures for the Airflow tests: one Airflow home (SQLite metadata DB) per test session.

AIRFLOW_HOME is set here, before anything imports Airflow (dlt does when it is installed), so no
test creates ``~/airflow``; subprocesses inherit it and reuse the migrated DB.
"""

import os
import tempfile

from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)

if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="stacks-airflow-tests-")
    os.environ["AIRFLOW_HOME"] = _home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_home, "dags")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"

telemetry_off()  # the tools these tests drive must not phone home
for _key, _value in {  # and Airflow's own switches
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}.items():
    os.environ.setdefault(_key, _value)


# --- the demo shop stack: el-dlt's shop step + the shared shop dbt project ------------------------

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from stacks_testing.entrypoints import install_stacks  # noqa: E402

SHOP_URL_ENV = "STACKS_SHOP_URL"
MARTS = ("fct_orders", "dim_customers", "daily_revenue")


def shop_step() -> Any:
    """el-dlt's shop API step, as stacks/dagster-dlt-dbt builds it: the shop URL is read when a
    source is built, and order lines stay the JSON column ``orders.items`` (the raw contract)."""
    from stacks_el_dlt import DltStep, shop_api_source

    def source() -> Any:
        return shop_api_source(
            os.environ.get(SHOP_URL_ENV, "http://127.0.0.1:8765"), nested_items="json"
        )

    return DltStep("shop", source)


def shop_spec() -> Any:
    from stacks_contract.models import StackSpec
    from stacks_demo import SHOP_DBT_PROJECT
    from stacks_transform_dbt import DbtTransform

    return StackSpec(
        name="airflow-shop",
        el_steps=(shop_step(),),
        transform=DbtTransform(SHOP_DBT_PROJECT, name="dbt", schema="analytics"),
    )


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Any:
    """The session's metadata DB, migrated once (every test and subprocess reuses it)."""
    from stacks_orch_airflow import ensure_db

    return ensure_db()


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from stacks_demo.shop import ShopServer

    with ShopServer(seed=42) as server:
        monkeypatch.setenv(SHOP_URL_ENV, server.url)
        yield server


@pytest.fixture
def make_shop_spec() -> Any:
    """A factory: a fresh shop StackSpec per call (steps hold per-orchestrator state)."""
    return shop_spec


@pytest.fixture
def marts() -> list[Any]:
    from stacks_contract.models import TableRef

    return [TableRef("analytics", m) for m in MARTS]


# --- stacks installed through an entry point, for DAG files built from a StackRef ---------------

_STACKS_MODULE = """
import os
from stacks_contract.ports import Stack
from stacks_testing.reference import reference_stack


class _Base(Stack):
    def orchestrator(self):
        from stacks_orch_airflow import AirflowOrchestrator

        return AirflowOrchestrator(retries=0)


class ReferenceStack(_Base):
    name = "airflow-ref"

    def spec(self, warehouse):
        return reference_stack(os.environ["STACKS_TEST_SOURCES"], name=self.name)


class ShopStack(_Base):
    name = "airflow-shop"

    def spec(self, warehouse):
        from stacks_contract.models import StackSpec
        from stacks_el_dlt import DltStep, shop_api_source
        from stacks_demo import SHOP_DBT_PROJECT
        from stacks_transform_dbt import DbtTransform

        def source():
            url = os.environ.get("STACKS_SHOP_URL", "http://127.0.0.1:8765")
            return shop_api_source(url, nested_items="json")

        return StackSpec(
            name=self.name,
            el_steps=(DltStep("shop", source),),
            transform=DbtTransform(SHOP_DBT_PROJECT, name="dbt", schema="analytics"),
        )
"""


@pytest.fixture
def installed_stacks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two stacks (``airflow-ref``: the tool-free reference stack; ``airflow-shop``: dlt + dbt)
    registered in the ``stacks.stacks`` entry-point group by a ``.dist-info`` on the path, for
    this process and its subprocesses."""
    site = install_stacks(
        tmp_path / "site",
        dist="stacks-airflow-test-stacks",
        module="stacks_airflow_test_stacks",
        source=_STACKS_MODULE,
        stacks={"airflow-ref": "ReferenceStack", "airflow-shop": "ShopStack"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("STACKS_TEST_SOURCES", str(tmp_path / "sources"))
    return site
