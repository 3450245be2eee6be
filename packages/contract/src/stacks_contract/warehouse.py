"""The warehouse a stack writes to, as frozen data.

One model per engine, joined in the :data:`Warehouse` discriminated union. Callers only ever pass
a ``Warehouse`` around and ask it for :meth:`~_WarehouseBase.redacted_url`; tool packages translate
it into their own configuration (a dlt destination, a dbt profile). Only engines the ledger,
fingerprint and CLI can use through one code path are offered (Postgres, DuckDB); another engine
is a new member of the union together with its driver in :mod:`stacks_core.sql`.

Secrets are :class:`pydantic.SecretStr`: ``repr``, ``str`` and ``model_dump`` never show them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from stacks_contract.errors import ConfigError

DEFAULT_SCHEMA = "raw"


class _WarehouseBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the schema (dataset) raw tables land in; transforms read from here
    schema_: str = Field(
        default=DEFAULT_SCHEMA, alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )

    @property
    def schema_name(self) -> str:
        return self.schema_

    def with_schema(self, schema: str) -> Warehouse:
        """The same warehouse, another default schema."""
        return self.model_copy(update={"schema_": schema})  # type: ignore[return-value]

    def redacted_url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __str__(self) -> str:
        return self.redacted_url()


#: libpq parameters whose value is a secret: never in a redacted URL, never in a reference
SECRET_PARAMS = frozenset({"password", "sslpassword"})


class PostgresWarehouse(_WarehouseBase):
    kind: Literal["postgres"] = "postgres"
    host: str = "localhost"
    port: int = 5432
    database: str
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    #: further libpq connection parameters (``sslmode``, ``sslrootcert``, ``options``,
    #: ``application_name``, ...), as given in the URL's query; every tool receives them
    params: dict[str, str] = Field(default_factory=dict)

    def url(self) -> str:
        """The full libpq URL, password included. Never log this; use :meth:`redacted_url`."""
        return self._url(self.password.get_secret_value(), secrets=True)

    def redacted_url(self) -> str:
        return self._url("***" if self.password.get_secret_value() else "", schema=True)

    def _url(self, password: str, *, secrets: bool = False, schema: bool = False) -> str:
        query = {k: v for k, v in self.params.items() if secrets or k not in SECRET_PARAMS}
        host = self.host
        if host.startswith("/"):  # a Unix socket directory goes in the query, as libpq reads it
            query = {"host": host, **query}
            host = ""
        if schema:
            query["schema"] = self.schema_
        auth = quote(self.user, safe="") + (":" + quote(password, safe="*") if password else "")
        netloc = f"{auth}@{_host(host)}" + (f":{self.port}" if host else "")
        path = "/" + quote(self.database, safe="")
        return urlunsplit(
            ("postgresql", netloc, path, urlencode(query, safe="/", quote_via=quote), "")
        )

    def libpq_params(self) -> dict[str, str]:
        """Every connection parameter but the password, by libpq keyword."""
        return {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.database,
            "user": self.user,
            **self.params,
        }


class DuckDBWarehouse(_WarehouseBase):
    kind: Literal["duckdb"] = "duckdb"
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    def redacted_url(self) -> str:
        # the path is absolute, so this gives the canonical three slashes: duckdb:///abs/path
        return f"duckdb://{self.path}?schema={self.schema_}"


Warehouse = Annotated[PostgresWarehouse | DuckDBWarehouse, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[Warehouse] = TypeAdapter(Warehouse)

DEFAULT_DUCKDB_DIR = Path(".stacks")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def redact(text: str, warehouse: object) -> str:
    """``text`` with the warehouse's password (raw and URL-quoted) replaced by ``***``."""
    pw = getattr(warehouse, "password", None)
    secret = pw.get_secret_value() if isinstance(pw, SecretStr) else ""
    if not secret:
        return text
    # The redacted URL is already safe; keep it intact even when the password happens to be a
    # substring of it (the password "postgres" would otherwise mangle "postgresql://").
    keep = warehouse.redacted_url() if hasattr(warehouse, "redacted_url") else ""
    parts = text.split(keep) if keep else [text]
    masked = [p.replace(quote(secret, safe=""), "***").replace(secret, "***") for p in parts]
    return keep.join(masked)


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """``(scheme://, userinfo, rest)`` split at the LAST '@', or None without one.

    Deliberately not urlsplit: a password with an unencoded '#', '/' or '?' makes urlsplit put
    part of it in the host, path or fragment, and then it would be printed unmasked.
    """
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at == -1:
        return None
    return scheme + sep, rest[:at], rest[at + 1 :]


def _redact_url(url: str) -> str:
    split = _userinfo(url)
    if split is None:
        return _SECRET_KV.sub(r"\g<key>=***", url)
    scheme, userinfo, rest = split
    user, colon, _ = userinfo.partition(":")
    rest = _SECRET_KV.sub(r"\g<key>=***", rest)
    return f"{scheme}{user}{':***' if colon else ''}@{rest}"


#: ``scheme://user:password@`` anywhere in a text (up to the last '@' before a space)
_URL_AUTH = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*):[^\s'\"]*@")
#: ``password=...`` / ``sslpassword=...`` in a URL query or a libpq conninfo string
_SECRET_KV = re.compile(r"(?i)\b(?P<key>" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&\s'\"]*")


def mask_secrets(text: str) -> str:
    """``text`` with every URL password (``scheme://user:***@host``) and every ``password=``
    value masked: for messages that may echo what a user typed (a URL given where a stack name
    was expected, an argument click could not parse), where no warehouse object is at hand."""
    return _SECRET_KV.sub(r"\g<key>=***", _URL_AUTH.sub(r"\g<head>:***@", text))


def parse_warehouse(url: str | None, *, default_name: str = "warehouse") -> Warehouse:
    """Build a warehouse from a URL; ``None`` gives the embedded DuckDB file under ``./.stacks/``.

    Accepted: ``postgresql://user:pass@host:port/db?schema=raw`` (also ``postgres://``),
    ``duckdb:///abs/path.duckdb``, ``duckdb://relative/path.duckdb`` and a bare ``*.duckdb`` path.
    Raises :class:`ConfigError` with one sentence (password masked) when the URL is malformed.
    """
    if url is None or url == "":
        return DuckDBWarehouse(path=DEFAULT_DUCKDB_DIR / f"{default_name}.duckdb")
    shown = _redact_url(url)
    if url.endswith(".duckdb") and "://" not in url:
        return DuckDBWarehouse(path=Path(url))
    split = _userinfo(url)
    if split is not None and any(c in split[1].partition(":")[2] for c in "/?#"):
        raise ConfigError(
            f"Malformed warehouse URL {shown}: the password contains '/', '?' or '#', which must "
            "be percent-encoded in a URL (%2F, %3F, %23)."
        )
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        _ = parts.port  # ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"Malformed warehouse URL {shown}: {exc}.") from None
    schema = query.pop("schema", DEFAULT_SCHEMA) or DEFAULT_SCHEMA
    scheme = parts.scheme.lower()
    try:
        if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
            return _postgres(parts._replace(scheme="postgresql"), query, schema, shown)
        if query:
            # silently dropping a parameter would connect differently from what the user asked
            raise ConfigError(
                f"Unsupported warehouse URL parameter(s) {', '.join(sorted(query))} in {shown}: "
                "a DuckDB URL understands only 'schema'."
            )
        if scheme == "duckdb":
            raw = (parts.netloc + parts.path) if parts.netloc else parts.path
            if not raw or raw == "/":
                raise ConfigError(
                    f"Malformed warehouse URL {shown}: it names no file "
                    "(expected duckdb:///path/to/file.duckdb)."
                )
            raw = unquote(raw)
            if raw.startswith("//"):  # duckdb:////abs/path: POSIX would keep the double slash
                raw = "/" + raw.lstrip("/")
            return DuckDBWarehouse(path=Path(raw), schema=schema)
    except ConfigError:
        raise
    except Exception as exc:  # pydantic validation: turn into one sentence
        errors = exc.errors() if hasattr(exc, "errors") else [{"msg": str(exc)}]
        raise ConfigError(f"Malformed warehouse URL {shown}: {errors[0]['msg']}.") from None
    raise ConfigError(
        f"Unsupported warehouse URL {shown}: the scheme must be postgresql:// or duckdb://."
    )


#: libpq's connection parameter key words (PostgreSQL's "Parameter Key Words"): what a Postgres
#: URL may carry in its query besides ``schema``
LIBPQ_PARAMS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile",
        "require_auth", "channel_binding", "connect_timeout", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
        "gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression", "sslcert",
        "sslkey", "sslpassword", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir",
        "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs",
        "load_balance_hosts",
    }
)  # fmt: skip


def _postgres(parts: SplitResult, query: dict[str, str], schema: str, shown: str) -> Warehouse:
    """A Postgres URL read as libpq reads one: percent-decoding, a Unix socket directory as the
    host (``?host=/run/postgresql`` or percent-encoded in the authority), and every libpq
    parameter in the query (``sslmode``, ``options``, ...), which overrides the authority."""
    unknown = sorted(set(query) - LIBPQ_PARAMS)
    if unknown:
        # silently dropping e.g. a misspelt sslmode would connect differently from what was asked
        raise ConfigError(
            f"Unsupported warehouse URL parameter(s) {', '.join(unknown)} in {shown}: besides "
            "'schema', a Postgres URL takes libpq's connection parameters (sslmode, "
            "sslrootcert, options, application_name, ...)."
        )
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):  # an IPv6 literal
        host = hostport[1 : hostport.index("]")]
    else:
        host = unquote(hostport.partition(":")[0])
    found = {
        "host": host,
        "port": str(parts.port or ""),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "dbname": unquote(parts.path[1:] if parts.path.startswith("/") else parts.path),
    }
    info = {k: v for k, v in found.items() if v} | query
    if not info.get("dbname"):
        raise ConfigError(
            f"Malformed warehouse URL {shown}: it names no database "
            "(expected postgresql://user:password@host:port/database)."
        )
    port = info.pop("port", "") or "5432"
    if not port.isdigit():
        raise ConfigError(f"Malformed warehouse URL {shown}: the port {port!r} is not a number.")
    host = info.pop("host", "") or "localhost"
    database, user = info.pop("dbname"), info.pop("user", "") or "postgres"
    password = info.pop("password", "") or libpq_password(
        host, int(port), database, user, info.get("passfile")
    )
    return PostgresWarehouse(
        host=host,
        port=int(port),
        database=database,
        user=user,
        password=SecretStr(password),
        params=info,
        schema=schema,
    )


def libpq_password(
    host: str, port: int, database: str, user: str, passfile: str | None = None
) -> str:
    """The password libpq would use for a URL without one: ``$PGPASSWORD``, else the first
    matching line of the password file (``passfile``, ``$PGPASSFILE`` or ``~/.pgpass``; ignored,
    as libpq ignores it, when group or others may read it). Every tool of a run (dlt, dbt, the
    orchestrators' workers) then gets it without it ever being on a command line."""
    if os.environ.get("PGPASSWORD"):
        return os.environ["PGPASSWORD"]
    path = Path(passfile or os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        if path.stat().st_mode & 0o077:
            return ""
        lines = path.read_text().splitlines()
    except (OSError, RuntimeError):  # no file, or no home to look in
        return ""
    socket_host = host.startswith("/")
    wanted = ("localhost" if socket_host else host, str(port), database, user)
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _pgpass_fields(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields, wanted, strict=False)):
            return fields[4]
    return ""


def _pgpass_fields(line: str) -> list[str]:
    """A ``.pgpass`` line's fields (``\:`` and ``\\`` escape a colon and a backslash)."""
    fields: list[str] = []
    cur, escaped = "", False
    for ch in line:
        if escaped:
            cur, escaped = cur + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == ":" and len(fields) < 4:
            fields.append(cur)
            cur = ""
        else:
            cur += ch
    return [*fields, cur]


def warehouse_from_dict(data: dict[str, object]) -> Warehouse:
    return _ADAPTER.validate_python(data)
