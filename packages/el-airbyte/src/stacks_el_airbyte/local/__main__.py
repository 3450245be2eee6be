"""``python -m stacks_el_airbyte.local connections.yaml [--host H] [--port P]``: serve the local
engine until Ctrl-C. Client credentials: ``AIRBYTE_CLIENT_ID`` / ``AIRBYTE_CLIENT_SECRET`` from
the environment when both are set, else the ones in the credentials file (``--credentials-file``,
default ``airbyte-credentials.env`` beside the connections file), else new ones written there
(mode 0600; the secret never goes to the terminal). A restart therefore keeps the credentials
its clients were given."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from stacks_contract.errors import StacksError

CREDENTIALS_FILE = "airbyte-credentials.env"


def _read(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a credentials file written by an earlier start (none: {})."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep}


def _credentials(values: Mapping[str, str]) -> tuple[str, str] | None:
    client_id, secret = values.get("AIRBYTE_CLIENT_ID"), values.get("AIRBYTE_CLIENT_SECRET")
    return (client_id, secret) if client_id and secret else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks_el_airbyte.local")
    parser.add_argument("connections", type=Path, help="YAML file of connections")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--credentials-file", type=Path, default=None)
    args = parser.parse_args(argv)
    credentials_file = args.credentials_file or args.connections.with_name(CREDENTIALS_FILE)
    from stacks_el_airbyte.local.config import load_connections
    from stacks_el_airbyte.local.server import LocalEngine

    try:
        connections = load_connections(args.connections)
        credentials = _credentials(os.environ) or _credentials(_read(credentials_file))
        engine = LocalEngine(connections, host=args.host, port=args.port, credentials=credentials)
        engine.start()
    except StacksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    lines = "".join(f"{k}={v}\n" for k, v in engine.env().items())
    fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(lines)
    print(f"Airbyte public API at {engine.url} (also {engine.origin}/v1)", flush=True)
    print(f"AIRBYTE_CLIENT_ID={engine.client_id} (secret in {credentials_file})", flush=True)
    for c in connections:
        print(f"connection {c.name}: {c.connection_id}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
