"""Building the workspace's wheels, installing one member from them into a fresh venv and what a
stack must do there: what ``scripts/release`` and ``tests/test_wheel_install.py`` share.

A member's venv gets only that member's wheel and its declared dependencies: sibling
``stacks-*`` wheels from the build folder (never an index, never the workspace), third-party
ones at the lock's versions (``uv export`` as constraints, so installs come from uv's cache).
Stdlib only.
"""

from __future__ import annotations

import os
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {
    p.parent.name: p.parent
    for group in ("packages", "stacks")
    for p in sorted((ROOT / group).glob("*/pyproject.toml"))
}


def clean_env(**extra: str) -> dict[str, str]:
    """No trace of the workspace's environment; telemetry off; uv quiet and cache-friendly."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env = {k: v for k, v in env.items() if not k.startswith(("UV_PROJECT", "STACKS_"))}
    env.update(
        UV_NO_PROGRESS="1",
        UV_LINK_MODE="hardlink",  # the cache and the temp folder share a filesystem here
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        RUNTIME__DLTHUB_TELEMETRY="false",
        DO_NOT_TRACK="1",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout
    )


def pyproject(member: str) -> dict:
    return tomllib.loads((MEMBERS[member] / "pyproject.toml").read_text())


def version(member: str) -> str:
    return str(pyproject(member)["project"]["version"])


def build_wheels(out: Path) -> None:
    """Every member's wheel into ``out`` (``uv build --wheel --all-packages``)."""
    proc = run(["uv", "build", "--wheel", "--all-packages", "-o", str(out)], ROOT)
    if proc.returncode:
        raise RuntimeError(f"uv build failed:\n{proc.stdout}\n{proc.stderr}")


def wheel_of(dist: Path, member: str) -> Path:
    found = list(dist.glob(f"stacks_{member.replace('-', '_')}-*.whl"))
    if len(found) != 1:
        raise RuntimeError(f"stacks-{member}: expected one wheel in {dist}, found {found}")
    return found[0]


@dataclass
class Venv:
    member: str
    python: Path | None  # None: the install failed (see log)
    log: str
    seconds: float

    @property
    def bin(self) -> Path:
        assert self.python is not None, self.log
        return self.python.parent


def make_venv(
    member: str, dist: Path, base: Path, *, extras: str = "", python: str = "3.11"
) -> Venv:
    """A fresh venv under ``base/member`` with ``stacks-<member><extras>`` installed from the
    wheels in ``dist`` alone (plus third-party dependencies at the lock's versions)."""
    t0 = time.monotonic()
    folder = base / member
    folder.mkdir(parents=True)
    constraints = folder / "constraints.txt"
    steps = [
        ["uv", "export", "--frozen", "--package", f"stacks-{member}", "--no-dev", "--all-extras",
         "--no-emit-workspace", "--no-hashes", "--no-header", "-o", str(constraints)],
        ["uv", "venv", "--python", python, str(folder / "venv")],
    ]  # fmt: skip
    log = []
    for cmd in steps:
        proc = run(cmd, ROOT)
        log.append(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
        if proc.returncode:
            return Venv(member, None, "\n".join(log), time.monotonic() - t0)
    # a sibling comes from the wheels just built, never from an index
    siblings = [f"stacks-{m}=={version(m)}" for m in MEMBERS]
    constraints.write_text(constraints.read_text() + "\n".join(siblings) + "\n")
    interpreter = folder / "venv" / "bin" / "python"
    wheel = f"{wheel_of(dist, member)}{extras}"
    cmd = ["uv", "pip", "install", "--python", str(interpreter), wheel]
    cmd += ["--find-links", str(dist), "-c", str(constraints)]
    proc = run(cmd, folder)
    log.append(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    ok = proc.returncode == 0
    return Venv(member, interpreter if ok else None, "\n".join(log), time.monotonic() - t0)


def stack_problems(member: str, venv: Venv, cwd: Path, **env: str) -> list[str]:
    """What ``scripts/release --dry-run`` asks of a stack installed from the wheels alone:
    ``stacks list`` shows each stack it declares and ``stacks plan NAME`` exits 0; the problems,
    each with the command's output."""
    stacks = str(venv.bin / "stacks")
    names = list(pyproject(member)["project"].get("entry-points", {}).get("stacks.stacks", {}))
    problems = []
    listed = run([stacks, "list"], cwd, **env)
    for name in names:
        if name not in listed.stdout:
            problems.append(f"stacks-{member}: `stacks list` does not show {name}:\n{listed}")
            continue
        plan = run([stacks, "plan", name], cwd, timeout=900, **env)
        if plan.returncode:
            problems.append(f"stacks-{member}: `stacks plan {name}` exited {plan.returncode}:")
            problems.append((plan.stdout + plan.stderr)[-3000:])
    return problems
