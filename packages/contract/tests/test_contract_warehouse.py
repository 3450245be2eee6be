"""Warehouse URLs: parsing, errors in one sentence, and passwords never shown."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import SecretStr, ValidationError
from stacks_contract.errors import ConfigError, WarehouseUnreachable
from stacks_contract.warehouse import (
    DuckDBWarehouse,
    PostgresWarehouse,
    parse_warehouse,
    redact,
    warehouse_from_dict,
)
from stacks_core.sql import connect

SECRET = "s3cr3t-Pa55"


def test_postgres_url_parts() -> None:
    wh = parse_warehouse(f"postgresql://alice:{SECRET}@db.example.com:6543/shop?schema=landing")
    assert isinstance(wh, PostgresWarehouse)
    assert (wh.host, wh.port, wh.database, wh.user) == ("db.example.com", 6543, "shop", "alice")
    assert wh.password.get_secret_value() == SECRET
    assert wh.schema_name == "landing"
    assert wh.url() == f"postgresql://alice:{SECRET}@db.example.com:6543/shop"


def test_postgres_defaults_and_aliases() -> None:
    wh = parse_warehouse("postgres://h/db")
    assert isinstance(wh, PostgresWarehouse)
    assert (wh.host, wh.port, wh.user, wh.schema_name) == ("h", 5432, "postgres", "raw")
    assert wh.password.get_secret_value() == ""
    assert wh.redacted_url() == "postgresql://postgres@h:5432/db?schema=raw"


def test_postgres_quoted_password_round_trips() -> None:
    # '@' and '/' in a password must be percent-encoded in a URL; url() must re-encode them
    wh = parse_warehouse("postgresql://bob:p%40ss%2Fw0rd@localhost/db")
    assert isinstance(wh, PostgresWarehouse)
    assert wh.password.get_secret_value() == "p@ss/w0rd"
    assert parse_warehouse(wh.url()) == wh


def test_ipv6_host_is_bracketed() -> None:
    wh = parse_warehouse("postgresql://u@[::1]:5433/db")
    assert isinstance(wh, PostgresWarehouse)
    assert wh.host == "::1"
    assert "@[::1]:5433/" in wh.url()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("duckdb:///tmp/x/wh.duckdb", Path("/tmp/x/wh.duckdb")),
        ("/tmp/y/wh.duckdb", Path("/tmp/y/wh.duckdb")),
        ("duckdb:///tmp/z.duckdb?schema=bronze", Path("/tmp/z.duckdb")),
        ("duckdb:////tmp/q.duckdb", Path("/tmp/q.duckdb")),
    ],
)
def test_duckdb_urls(url: str, expected: Path) -> None:
    wh = parse_warehouse(url)
    assert isinstance(wh, DuckDBWarehouse)
    assert wh.path == expected
    assert wh.redacted_url().startswith(f"duckdb://{expected}?schema=")
    assert wh.redacted_url().startswith("duckdb:///tmp/")
    assert parse_warehouse(wh.redacted_url()) == wh  # the shown URL is a valid URL for it


def test_relative_duckdb_paths_become_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("duckdb://sub/wh.duckdb", "sub/wh.duckdb"):
        wh = parse_warehouse(url)
        assert isinstance(wh, DuckDBWarehouse)
        assert wh.path == tmp_path / "sub" / "wh.duckdb"


def test_default_is_a_duckdb_file_under_dot_stacks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    wh = parse_warehouse(None, default_name="my-stack")
    assert isinstance(wh, DuckDBWarehouse)
    assert wh.path == tmp_path / ".stacks" / "my-stack.duckdb"
    assert parse_warehouse("", default_name="x") == DuckDBWarehouse(path=Path(".stacks/x.duckdb"))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"postgresql://u:{SECRET}@host:99x/db", "Port could not be cast"),
        (f"postgresql://u:{SECRET}@host:5432/", "names no database"),
        (f"postgresql://u:{SECRET}@host:70000/db", "Port out of range"),
        (f"mysql://u:{SECRET}@host/db", "scheme must be postgresql:// or duckdb://"),
        (f"postgresql://u:{SECRET}@host/db?schema=bad-name", "pattern"),
        ("duckdb:///", "names no file"),
        ("warehouse.db", "scheme must be"),
        (f"postgresql://u:{SECRET}@[::1/db", "Invalid IPv6 URL"),
    ],
)
def test_malformed_urls_are_one_masked_sentence(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_warehouse(url)
    msg = str(info.value)
    assert fragment in msg
    assert SECRET not in msg
    assert "\n" not in msg
    assert msg.endswith(".")


@pytest.mark.parametrize("char", ["#", "/", "?"])
def test_unencoded_special_characters_in_the_password(char: str) -> None:
    # urlsplit would cut the URL inside the password and print the rest of it unmasked
    password = f"ab{char}{SECRET}"
    with pytest.raises(ConfigError) as info:
        parse_warehouse(f"postgresql://alice:{password}@db.example.com:5432/shop")
    msg = str(info.value)
    assert "must be percent-encoded" in msg
    assert "postgresql://alice:***@db.example.com:5432/shop" in msg
    assert SECRET not in msg and "ab" + char not in msg
    # encoded, the same password is fine
    wh = parse_warehouse(f"postgresql://alice:{quote(password, safe='')}@db/shop")
    assert wh.password.get_secret_value() == password  # type: ignore[union-attr]


def test_unknown_url_parameters_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_warehouse(f"postgresql://u:{SECRET}@h/db?sslmode=require&schema=x&a=&sslmod=y")
    msg = str(info.value)
    assert msg.startswith("Unsupported warehouse URL parameter(s) a, sslmod in ")
    assert "libpq's connection parameters" in msg and SECRET not in msg
    assert parse_warehouse("postgresql://u@h/db?schema=").schema_name == "raw"
    with pytest.raises(ConfigError, match="a DuckDB URL understands only 'schema'"):
        parse_warehouse("duckdb:///tmp/x.duckdb?sslmode=require")


def test_libpq_parameters_are_kept_and_passed_on() -> None:
    url = (
        f"postgresql://alice:{SECRET}@db.example.com:6543/shop?sslmode=verify-full"
        "&sslrootcert=/etc/ssl/root.crt&options=-c%20search_path%3Dx&application_name=etl"
        "&schema=landing"
    )
    wh = parse_warehouse(url)
    assert isinstance(wh, PostgresWarehouse)
    assert (wh.host, wh.port, wh.database, wh.user) == ("db.example.com", 6543, "shop", "alice")
    assert wh.schema_name == "landing"
    assert wh.params == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/root.crt",
        "options": "-c search_path=x",
        "application_name": "etl",
    }
    shown = wh.redacted_url()
    assert shown.startswith("postgresql://alice:***@db.example.com:6543/shop?")
    assert "sslmode=verify-full" in shown and "schema=landing" in shown and SECRET not in shown
    # the full URL round-trips through libpq's own parser with every parameter
    again = parse_warehouse(wh.url() + "&schema=landing")
    assert again == wh


def test_a_unix_socket_host_and_a_password_in_the_query() -> None:
    wh = parse_warehouse(f"postgresql://bob@/shop?host=/var/run/postgresql&password={SECRET}")
    assert isinstance(wh, PostgresWarehouse)
    assert wh.host == "/var/run/postgresql" and wh.params == {}
    assert wh.password.get_secret_value() == SECRET
    assert SECRET not in wh.redacted_url() and SECRET not in str(wh)
    assert "host=/var/run/postgresql" in wh.redacted_url()
    encoded = parse_warehouse("postgresql://bob@%2Fvar%2Frun%2Fpostgresql/shop")
    assert encoded.host == "/var/run/postgresql"  # type: ignore[union-attr]
    assert parse_warehouse(wh.url()) == wh


def test_secrets_never_in_repr_str_or_json() -> None:
    pg = parse_warehouse(f"postgresql://alice:{SECRET}@h/db")
    direct = PostgresWarehouse(database="d", user="u", password=SecretStr(SECRET))
    for wh in (pg, direct):
        dumped = json.dumps(wh.model_dump(mode="json"))
        for text in (repr(wh), str(wh), wh.model_dump_json(), dumped):
            assert SECRET not in text
        assert "***" in wh.redacted_url()


def test_redacted_url_has_no_password_but_names_everything_else() -> None:
    wh = parse_warehouse(f"postgresql://alice:{SECRET}@h:1234/db?schema=s")
    assert wh.redacted_url() == "postgresql://alice:***@h:1234/db?schema=s"
    assert str(wh) == wh.redacted_url()


def test_redact_masks_raw_and_quoted_password() -> None:
    wh = parse_warehouse("postgresql://u:p%40ss@h/db")
    assert redact("failed for p@ss and p%40ss", wh) == "failed for *** and ***"
    assert redact("nothing secret here", parse_warehouse("duckdb:///x.duckdb")) == (
        "nothing secret here"
    )


def test_redact_keeps_the_redacted_url_readable() -> None:
    # a password that is a substring of the URL scheme must not mangle the URL
    wh = parse_warehouse("postgresql://postgres:postgres@h/db")
    text = f"Cannot connect to {wh.redacted_url()}: password postgres rejected"
    assert redact(text, wh) == f"Cannot connect to {wh.redacted_url()}: password *** rejected"


def test_warehouses_are_frozen_and_strict() -> None:
    wh = parse_warehouse("postgresql://u@h/db")
    with pytest.raises(ValidationError):
        wh.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        PostgresWarehouse(database="db", colour="blue")  # type: ignore[call-arg]


def test_with_schema_and_dict_round_trip() -> None:
    wh = parse_warehouse("postgresql://u:pw@h/db")
    other = wh.with_schema("staging")
    assert other.schema_name == "staging" and wh.schema_name == "raw"
    data = json.loads(other.model_dump_json(by_alias=True))
    assert data["kind"] == "postgres"
    assert warehouse_from_dict(data | {"password": "pw"}) == other


def test_only_engines_with_a_driver_are_offered() -> None:
    with pytest.raises(ValidationError):
        warehouse_from_dict({"kind": "bigquery", "project": "p"})
    with pytest.raises(ConfigError, match="scheme must be postgresql:// or duckdb://"):
        parse_warehouse("snowflake://u:p@acme/db")


def test_unreachable_postgres_is_one_masked_sentence(unused_tcp_port: int) -> None:
    wh = parse_warehouse(f"postgresql://u:{SECRET}@127.0.0.1:{unused_tcp_port}/db")
    with pytest.raises(WarehouseUnreachable) as info:
        connect(wh)
    msg = str(info.value)
    assert msg.startswith("Cannot connect to the Postgres warehouse postgresql://u:***@127.0.0.1")
    assert "refused" in msg.lower()
    assert SECRET not in msg and "\n" not in msg


def test_missing_database_is_one_masked_sentence(postgres_warehouse: PostgresWarehouse) -> None:
    wh = postgres_warehouse.model_copy(
        update={"database": "no_such_db", "password": SecretStr(SECRET)}
    )
    with pytest.raises(WarehouseUnreachable) as info:
        connect(wh)
    msg = str(info.value)
    assert msg.startswith(f"Cannot connect to the Postgres warehouse {wh.redacted_url()}")
    assert 'database "no_such_db" does not exist' in msg
    assert SECRET not in msg and "\n" not in msg


def test_unopenable_duckdb_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(WarehouseUnreachable, match="Cannot open the DuckDB warehouse"):
        connect(DuckDBWarehouse(path=blocker / "wh.duckdb"))
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"this is not a duckdb file" * 200)
    with pytest.raises(WarehouseUnreachable, match="Cannot open the DuckDB warehouse"):
        connect(DuckDBWarehouse(path=garbage))


def test_a_duckdb_path_in_a_missing_directory_is_an_error(tmp_path: Path, monkeypatch) -> None:
    """A mistyped path creates nothing; only the default's own .stacks/ folder is made."""
    typo = tmp_path / "wherehouse" / "shop.duckdb"
    with pytest.raises(WarehouseUnreachable, match=r"the directory \S*wherehouse does not exist"):
        connect(DuckDBWarehouse(path=typo))
    assert not typo.parent.exists()
    monkeypatch.chdir(tmp_path)
    with connect(parse_warehouse(None, default_name="shop")) as conn:
        assert conn.execute("select 1") == [(1,)]
    assert (tmp_path / ".stacks" / "shop.duckdb").exists()


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_url_without_a_password_takes_the_one_libpq_would(tmp_path, monkeypatch) -> None:
    """As libpq does: $PGPASSWORD, else the first matching line of $PGPASSFILE (or ~/.pgpass),
    which is ignored when others may read it; a password in the URL wins. So every tool of a
    run gets the password without it ever being on a command line."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        "# comment\n"
        "db.internal:5432:*:bob:not-this-host\n"
        "localhost:5432:analytics:bob:p\\:w\\\\d\n"
        "*:*:*:*:fallback\n"
    )
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    secret = lambda url: parse_warehouse(url).password.get_secret_value()  # noqa: E731
    assert secret("postgresql://bob@localhost/analytics") == "p:w\\d"
    assert secret("postgresql://eve@localhost:5433/other") == "fallback"
    assert secret("postgresql://bob:given@localhost/analytics") == "given"
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert secret("postgresql://bob@localhost/analytics") == "from-env"
    monkeypatch.delenv("PGPASSWORD")
    passfile.chmod(0o644)  # libpq ignores a password file others may read
    assert secret("postgresql://bob@localhost/analytics") == ""
    assert parse_warehouse("postgresql://bob@localhost/analytics").redacted_url() == (
        "postgresql://bob@localhost:5432/analytics?schema=raw"
    )
