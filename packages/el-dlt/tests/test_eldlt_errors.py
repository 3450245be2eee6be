"""Failures read as one clear sentence, with every secret masked."""

from __future__ import annotations

import dlt
import pytest
from stacks_contract import RunRequest
from stacks_contract.errors import ConfigError, StacksError, StepFailed, WarehouseUnreachable
from stacks_contract.warehouse import PostgresWarehouse, SecretStr, Warehouse, parse_warehouse
from stacks_el_dlt import DltStep, FilesStep, ShopApiStep, SqlDatabaseStep

PASSWORD = "s3cr3t-P@ss"


def one_sentence(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


def factory():
    return dlt.resource([{"id": 1}], name="t", primary_key="id")


def test_unreachable_postgres_is_one_sentence_with_password_masked() -> None:
    wh = PostgresWarehouse(
        host="127.0.0.1", port=1, database="nowhere", user="bob", password=SecretStr(PASSWORD)
    )
    with pytest.raises(WarehouseUnreachable) as info:
        DltStep("s", factory).run(RunRequest(stack="t"), wh)
    text = one_sentence(info.value)
    assert PASSWORD not in text and "s3cr3t" not in text
    assert "127.0.0.1:1/nowhere" in text


def test_wrong_password_is_masked(postgres_warehouse: PostgresWarehouse) -> None:
    # the test server trusts local connections, so a wrong database stands in for bad auth
    wh = postgres_warehouse.model_copy(
        update={"database": "no_such_db", "password": SecretStr(PASSWORD)}
    )
    with pytest.raises(WarehouseUnreachable) as info:
        DltStep("s", factory).run(RunRequest(stack="t"), wh)
    text = one_sentence(info.value)
    assert PASSWORD not in text and "no_such_db" in text


def test_a_source_object_instead_of_a_factory_is_refused() -> None:
    with pytest.raises(ConfigError, match="factory"):
        DltStep("s", factory())  # type: ignore[arg-type]


def test_bad_shop_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        ShopApiStep("ftp//nope")


def test_unreachable_source_names_the_step_and_the_cause(warehouse: Warehouse) -> None:
    step = ShopApiStep("http://127.0.0.1:1")
    with pytest.raises(StepFailed) as info:
        step.run(RunRequest(stack="t"), warehouse)
    text = one_sentence(info.value)
    assert text.startswith("Step 'shop' failed: dlt extract step (resource '")
    assert "source http://127.0.0.1:1)" in text
    assert "refused" in text.lower() or "connect" in text.lower()


def test_source_database_password_is_masked(warehouse: Warehouse) -> None:
    step = SqlDatabaseStep(f"postgresql://app:{PASSWORD}@127.0.0.1:1/app", ["accounts"])
    with pytest.raises(StepFailed) as info:
        step.run(RunRequest(stack="t"), warehouse)
    text = one_sentence(info.value)
    assert PASSWORD not in text and "s3cr3t" not in text
    assert "source postgresql://app:***@127.0.0.1:1/app" in text


def test_a_password_that_is_also_the_scheme_does_not_mangle_the_url(warehouse: Warehouse) -> None:
    """The password "postgres" (a common local setup) is masked, not the "postgres" of the
    URL's scheme: the error still says which database it could not read."""
    step = SqlDatabaseStep("postgresql://postgres:postgres@127.0.0.1:1/app", ["accounts"])
    with pytest.raises(StepFailed) as info:
        step.run(RunRequest(stack="t"), warehouse)
    text = one_sentence(info.value)
    assert "source postgresql://***:***@127.0.0.1:1/app" in text, text


def test_missing_landing_folder_and_unknown_format(tmp_path, warehouse: Warehouse) -> None:
    with pytest.raises(ConfigError, match="file format"):
        FilesStep(tmp_path, table="t", pattern="*.xml")
    step = FilesStep(tmp_path / "absent", table="t", pattern="*.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        step.run(RunRequest(stack="t"), warehouse)


def test_factory_that_raises_is_a_config_error(warehouse: Warehouse) -> None:
    def broken():
        raise RuntimeError("no API key configured")

    with pytest.raises(ConfigError, match="no API key configured"):
        DltStep("s", broken).run(RunRequest(stack="t"), warehouse)


def test_libpq_parameters_of_the_url_reach_dlt(postgres_warehouse: PostgresWarehouse) -> None:
    """The URL's sslmode/application_name/options are what dlt connects with: a read-only
    session (set through ``options``) refuses the load, with Postgres's own words."""
    base = postgres_warehouse.url()
    fine = parse_warehouse(base + "?sslmode=disable&application_name=stacks-el")
    assert DltStep("fine", factory).run(RunRequest(stack="t"), fine).total_rows == 1
    read_only = parse_warehouse(base + "?options=-c%20default_transaction_read_only%3Don&schema=ro")
    with pytest.raises(StacksError) as info:
        DltStep("ro", factory).run(RunRequest(stack="t"), read_only)
    assert "read-only transaction" in one_sentence(info.value)


def test_a_signal_dlt_caught_inside_a_step_failure_is_an_interrupt() -> None:
    """dlt's normalize and load catch SIGINT/SIGTERM themselves and fail the step with
    "Received `signal_code=2`" (seen under Dagster: a Ctrl-C became exit 1, a failed run). The
    step gives it back as the Ctrl-C it was; any other failure stays one sentence."""
    import signal

    from dlt.common.exceptions import SignalReceivedException

    step = DltStep("s", factory)
    wh = parse_warehouse("duckdb:///unused.duckdb")
    try:
        try:
            raise SignalReceivedException(signal.SIGINT)
        except KeyboardInterrupt as signalled:
            raise RuntimeError("dlt normalize step failed: Received `signal_code=2`") from signalled
    except RuntimeError as failure:
        with pytest.raises(KeyboardInterrupt):
            step.translate_error(failure, wh)
    assert isinstance(step.translate_error(RuntimeError("boom"), wh), StacksError)
