"""The peers' own environments: each tool installed by the bench from the package index, pinned,
in a venv of its own (never in the workspace's lock), once per pin set.

Venvs live under ``$STACKS_BENCH_PEERS_DIR`` (default ``~/.cache/stacks-bench/peers``), one
folder per tool and pin set, and are reused while the pins stay the same. ``uv`` creates and
fills them (``uv venv`` + ``uv pip install``), so the index configuration is the user's own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: tool -> exact pins (the versions the bench measures; say so in the results)
PINS: dict[str, tuple[str, ...]] = {
    # the Go binary inside the wheel (the `sling` package downloads it at first use: offline no)
    "sling": ("sling-linux-amd64==1.4.11",),
    # 0.15.x is a Go binary in the wheel; no DuckDB destination offline
    "ingestr": ("ingestr==0.15.9",),
    # plain dlt as its docs install it for a SQL source, with both fast backends
    "dlt": (
        "dlt[postgres,duckdb,sql_database,parquet]==1.31.0",
        "connectorx==0.4.6",
        "pyarrow==26.0.1",
        "psycopg2-binary==2.9.13",  # dlt's Postgres destination
        # SQLAlchemy 2.1 reads postgresql:// URLs with psycopg 3
        "sqlalchemy==2.1.9",
        "psycopg[binary]==3.3.9",
    ),
}


@dataclass(frozen=True)
class Peer:
    name: str
    venv: Path
    pins: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def exe(self, name: str) -> Path:
        """An executable the peer's packages installed (``bin/`` or inside a package)."""
        direct = self.venv / "bin" / name
        if direct.exists():
            return direct
        found = sorted(self.venv.glob(f"lib/python*/site-packages/*/bin/{name}"))
        if not found:
            raise FileNotFoundError(f"{name} is not in the {self.name} venv ({self.venv})")
        return found[0]


def peers_dir() -> Path:
    base = os.environ.get("STACKS_BENCH_PEERS_DIR")
    return Path(base) if base else Path.home() / ".cache" / "stacks-bench" / "peers"


def ensure(name: str) -> Peer:
    """The venv of ``name`` with its pins installed (created on first use, then reused)."""
    pins = PINS[name]
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    venv = peers_dir() / f"{name}-{digest}"
    done = venv / ".stacks-bench-installed"
    if not done.exists():
        uv = shutil.which("uv")
        if uv is None:
            raise RuntimeError("`uv` is not on PATH: the bench installs its peers with it")
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        subprocess.run([uv, "venv", "-q", "--python", py, str(venv)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        proc = subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *pins],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"installing {' '.join(pins)} failed: {proc.stderr.strip()[-500:]}")
        done.write_text("\n".join(pins) + "\n")
    return Peer(name, venv, pins)


def versions() -> dict[str, str]:
    """tool -> its pins, for the results."""
    return {name: " ".join(pins) for name, pins in PINS.items()}
