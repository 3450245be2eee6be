"""A password-free warehouse URL, the password in a password file: the whole stack (the run lock,
the ledger, dlt, dbt, Dagster) runs against a Postgres that asks for it, and no process's
command line ever holds it. A cluster of this test's own, with password authentication."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_testing.postgres import local_cluster

BIN = Path(sys.executable).parent
PASSWORD = "Pgpass-0nly-S3cret"


def _cmdlines_holding(needle: bytes) -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            line = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in line:
            shown = line.replace(b"\0", b" ")[:200]
            found.append(f"{proc.name}: {shown!r}")
    return found


@pytest.mark.slow
def test_a_password_from_pgpass_reaches_every_tool_and_no_command_line(tmp_path: Path) -> None:
    with local_cluster() as server:
        warehouse = server.create_database("secrets")
        with server._admin_conn() as conn:  # from now on TCP logins need the password
            conn.execute(f"alter role postgres password '{PASSWORD}'")
        hba = server.data_dir / "pg_hba.conf"  # type: ignore[operator]
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        server._pg_ctl("reload", timeout=30)
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{warehouse.port}:*:postgres:{PASSWORD}\n")
        passfile.chmod(0o600)
        url = f"postgresql://postgres@127.0.0.1:{warehouse.port}/{warehouse.database}"
        env = {k: v for k, v in os.environ.items() if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE")}
        env.pop("PGPASSWORD", None)
        denied = subprocess.run(
            [str(BIN / "stacks"), "run", "dagster-dlt-dbt", "-w", url],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert denied.returncode == 2, denied.stdout + denied.stderr
        assert "password authentication failed" in denied.stderr or "no password" in denied.stderr
        env["PGPASSFILE"] = str(passfile)
        run = subprocess.Popen(
            [str(BIN / "stacks"), "run", "dagster-dlt-dbt", "-w", url],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        leaks: list[str] = []
        while run.poll() is None:  # every process of the run, while it runs
            leaks += _cmdlines_holding(PASSWORD.encode())
            time.sleep(0.2)
        out, errs = run.communicate()
        assert run.returncode == 0, (out + errs)[-3000:]
        assert "raw.orders " in out and "succeeded" in out
        assert leaks == []
        assert PASSWORD not in out + errs
