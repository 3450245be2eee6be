"""Every member installs alone from its wheel and runs a small example.

``scripts/release --dry-run`` runs first, as a maintainer runs it before a release: its checks,
every wheel (``uv build --wheel --all-packages``), each stack installed from the wheels alone
with its `stacks list` and `stacks plan`. The wheels it built are then reused: for each member, a
fresh venv (``uv venv``) gets only that wheel plus its declared dependencies
(``scripts/wheelhouse.py``, shared with the release script) and runs the example in
``wheel_examples.py``. Nothing from the workspace is importable there. Select with
``-m wheel_install``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from wheel_examples import EXAMPLES, STEP
from wheelhouse import MEMBERS, ROOT, Venv, make_venv, run, wheel_of

pytestmark = [pytest.mark.slow, pytest.mark.wheel_install]
STACKS = [m for m, folder in MEMBERS.items() if folder.parent.name == "stacks"]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """``scripts/release --dry-run`` into a folder of its own: (the wheels, its output, exit)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release"), "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return out, proc.stdout + proc.stderr, proc.returncode


@pytest.fixture(scope="module")
def dist(dry_run: tuple[Path, str, int]) -> Path:
    return dry_run[0]


def test_the_release_dry_run_passes(dry_run: tuple[Path, str, int]) -> None:
    """What a maintainer runs before `uv publish`: checks, wheels, each stack from the wheels
    alone listing and planning itself."""
    _, output, code = dry_run
    assert code == 0 and "release: dry run ok" in output, output[-6000:]
    for member in STACKS:
        assert f"release: stacks-{member} from the wheels alone: ok" in output, output[-6000:]


@pytest.fixture(scope="module")
def venvs(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    base = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(3) as pool:
        made = pool.map(lambda m: make_venv(m, dist, base, extras=EXAMPLES[m][0]), MEMBERS)
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
    if member == "cli":  # what `stacks init` writes ships in the wheel
        for path in ("pyproject.toml.tmpl", "tests/test_conformance.py.tmpl", "gitignore.tmpl"):
            assert f"{package}template/{path}" in names, f"stacks-cli wheel lacks {path}"
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
