"""Every member installs alone from its wheel and runs a small example.

``uv build --wheel --all-packages`` builds every wheel once; then, for each member, a fresh venv
(``uv venv``) gets only that wheel plus its declared dependencies (sibling ``stacks-*`` wheels from
the build folder, third-party ones from PyPI at the lock's versions, ``uv export`` as
constraints, so installs come from uv's cache) and runs the example in ``wheel_examples.py``.
Nothing from the workspace is importable there. Select with ``-m wheel_install``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from wheel_examples import EXAMPLES, STEP

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {
    p.parent.name: p.parent
    for group in ("packages", "stacks")
    for p in sorted((ROOT / group).glob("*/pyproject.toml"))
}
pytestmark = [pytest.mark.slow, pytest.mark.wheel_install]


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


@dataclass
class Venv:
    member: str
    python: Path | None
    log: str
    seconds: float


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = run(["uv", "build", "--wheel", "--all-packages", "-o", str(out)], ROOT)
    assert proc.returncode == 0, f"uv build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def version(member: str) -> str:
    return tomllib.loads((MEMBERS[member] / "pyproject.toml").read_text())["project"]["version"]


def wheel_of(dist: Path, member: str) -> Path:
    found = list(dist.glob(f"stacks_{member.replace('-', '_')}-*.whl"))
    assert len(found) == 1, f"stacks-{member}: expected one wheel in {dist}, found {found}"
    return found[0]


def make_venv(member: str, dist: Path, base: Path) -> Venv:
    t0 = time.monotonic()
    folder = base / member
    folder.mkdir()
    constraints = folder / "constraints.txt"
    steps = [
        ["uv", "export", "--frozen", "--package", f"stacks-{member}", "--no-dev", "--all-extras",
         "--no-emit-workspace", "--no-hashes", "--no-header", "-o", str(constraints)],
        ["uv", "venv", "--python", "3.11", str(folder / "venv")],
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
    python = folder / "venv" / "bin" / "python"
    extras = EXAMPLES[member][0]
    cmd = ["uv", "pip", "install", "--python", str(python), f"{wheel_of(dist, member)}{extras}"]
    cmd += ["--find-links", str(dist), "-c", str(constraints)]
    proc = run(cmd, folder)
    log.append(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    ok = proc.returncode == 0
    return Venv(member, python if ok else None, "\n".join(log), time.monotonic() - t0)


@pytest.fixture(scope="module")
def venvs(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    base = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(3) as pool:
        made = pool.map(lambda m: make_venv(m, dist, base), MEMBERS)
        return {v.member: v for v in made}


def test_every_member_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(MEMBERS)


@pytest.mark.parametrize("member", list(MEMBERS))
def test_wheel_carries_its_metadata_readme_and_license(member: str, dist: Path) -> None:
    with zipfile.ZipFile(wheel_of(dist, member)) as whl:
        names = whl.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = whl.read(meta_name).decode()
    fields = ["License-Expression: MIT", "Description-Content-Type: text/markdown"]
    fields += ["Author: The stacks authors", "Classifier: Programming Language :: Python :: 3.13"]
    for field in fields:
        assert field in meta, f"stacks-{member}: METADATA lacks {field!r}"
    assert f"# stacks-{member}" in meta, f"stacks-{member}: the README is not the description"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), f"{member}: no LICENSE"
    package = f"stacks_{member.replace('-', '_')}/"
    assert f"{package}py.typed" in names, f"stacks-{member}: no py.typed"
    if member == "demo":  # the demo shop's dbt project ships in the wheel
        shop = f"{package}shop_dbt/"
        paths = ("dbt_project.yml", "models/staging/sources.yml", "models/marts/schema.yml")
        for path in (*paths, "macros/order_lines.sql"):
            assert shop + path in names, f"stacks-demo wheel lacks {shop + path}"
    assert not [n for n in names if "/target/" in n or n.endswith(".duckdb")], names


@pytest.mark.parametrize("member", list(MEMBERS))
def test_member_installs_alone_and_runs_its_example(
    member: str, venvs: dict[str, Venv], tmp_path: Path
) -> None:
    venv = venvs[member]
    assert venv.python is not None, f"stacks-{member} does not install alone:\n{venv.log[-6000:]}"
    (tmp_path / "wheel_step.py").write_text(STEP)
    bin_dir = venv.python.parent
    script = "set -euo pipefail\n" + EXAMPLES[member][1]
    proc = run(
        ["bash", "-c", script],
        tmp_path,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(bin_dir.parent),
        HOME=str(tmp_path),  # nothing of the user's (dlt, Airflow, Dagster homes) is read
    )
    out = proc.stdout + proc.stderr
    expected = EXAMPLES[member][2]
    assert proc.returncode == 0 and expected in out, (
        f"stacks-{member}'s example in its own venv (installed in {venv.seconds:.0f}s) exited "
        f"{proc.returncode}, expected output containing {expected!r}:\n{out[-6000:]}"
    )
