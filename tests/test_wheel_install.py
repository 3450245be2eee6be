"""Every member installs alone from its wheel and runs a small example.

``uv build --wheel --all-packages`` builds every wheel once; then, for each member, a fresh venv
(``uv venv``) gets only that wheel plus its declared dependencies (``scripts/wheelhouse.py``,
which ``scripts/release`` uses too) and runs the example in ``wheel_examples.py``. Nothing from
the workspace is importable there. Each stack then lists and plans there as
``scripts/release --dry-run`` asks (the dry run's installs, on the wheels built once here).
Select with ``-m wheel_install``.
"""

from __future__ import annotations

import os
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from wheel_examples import EXAMPLES, STEP
from wheelhouse import MEMBERS, Venv, build_wheels, make_venv, run, stack_problems, wheel_of

pytestmark = [pytest.mark.slow, pytest.mark.wheel_install]
STACKS = [m for m, folder in MEMBERS.items() if folder.parent.name == "stacks"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build_wheels(out)
    return out


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


@pytest.mark.parametrize("member", STACKS)
def test_stack_lists_and_plans_from_the_wheels_alone(
    member: str, venvs: dict[str, Venv], tmp_path: Path
) -> None:
    """The release dry run's check of each stack, in CI: its venv (the wheels alone, no extras,
    as ``scripts/release`` makes it) lists the stack and plans it."""
    venv = venvs[member]
    assert venv.python is not None, f"stacks-{member} does not install alone:\n{venv.log[-6000:]}"
    problems = stack_problems(member, venv, tmp_path, HOME=str(tmp_path))
    assert not problems, "\n".join(problems)
