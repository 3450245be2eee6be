"""The per-member GitHub Actions workflows (.github/workflows, written by scripts/workflows): one
per member, current, triggered by the right paths, and valid for actionlint, which is shown to
catch a broken one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # the root .venv: its lint group ships both binaries
MEMBERS = {p.parent.name: p.parent for p in sorted(ROOT.glob("*/*/pyproject.toml"))
           if p.parent.parent.name in ("packages", "stacks")}  # fmt: skip


def _workflow(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _direct_workspace_deps(folder: Path) -> set[str]:
    """Members named in the folder's dependencies, extras or dev group (folder names)."""
    data = tomllib.loads((folder / "pyproject.toml").read_text())
    reqs = list(data["project"].get("dependencies", []))
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    reqs += [r for r in data.get("dependency-groups", {}).get("dev", []) if isinstance(r, str)]
    names = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0] for r in reqs}
    return {n.removeprefix("stacks-") for n in names if n.startswith("stacks-")} - {folder.name}


def _actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe, shellcheck = BIN / "actionlint", BIN / "shellcheck"
    for tool in (exe, shellcheck):
        if not tool.exists():
            pytest.fail(f"{tool} missing: the root lint group installs it (uv sync --frozen)")
    cmd = [str(exe), "-no-color", "-shellcheck", str(shellcheck), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_member_has_a_workflow_and_they_are_current() -> None:
    assert {"contract", "el-dlt", "dagster-dlt-dbt"} <= MEMBERS.keys()
    for member in MEMBERS:
        assert (WORKFLOWS / f"{member}.yml").is_file(), f"no workflow for {member}"
    assert (WORKFLOWS / "cross-package.yml").is_file()
    proc = subprocess.run([str(ROOT / "scripts" / "workflows"), "--check"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_a_member_workflow_runs_its_tests_alone_on_its_own_changes(member: str) -> None:
    folder = MEMBERS[member].relative_to(ROOT)
    doc = _workflow(f"{member}.yml")
    assert set(doc["on"]) == {"push", "pull_request"}
    for event in ("push", "pull_request"):
        paths = doc["on"][event]["paths"]
        wanted = {f"{folder}/**", "packages/contract/**", "uv.lock", "pyproject.toml"}
        deps = _direct_workspace_deps(ROOT / folder)
        wanted |= {f"{MEMBERS[d].relative_to(ROOT)}/**" for d in deps}
        wanted |= {"scripts/test", f".github/workflows/{member}.yml"}
        assert wanted <= set(paths), (event, sorted(wanted - set(paths)))
        assert not [p for p in paths if p.startswith(("packages/", "stacks/")) and
                    p.split("/")[1] not in MEMBERS]  # fmt: skip
    (job,) = doc["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["timeout-minutes"] >= 15
    assert job["services"]["postgres"]["image"] == "postgres:15"
    assert "5432:5432" in job["services"]["postgres"]["ports"]
    assert job["env"]["STACKS_TEST_POSTGRES_URL"].endswith("@localhost:5432/postgres")
    assert job["env"]["DO_NOT_TRACK"] == "1"
    assert [s["run"] for s in job["steps"] if "run" in s] == [f"scripts/test {member}"]
    assert doc["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"


def test_a_stack_workflow_follows_its_dependencies_transitively() -> None:
    paths = _workflow("dagster-dlt-dbt.yml")["on"]["push"]["paths"]
    members = {p.split("/")[1] for p in paths if p.startswith(("packages/", "stacks/"))}
    # orch-dagster[dlt,dbt] brings el-dlt and transform-dbt; everything brings the contract and
    # core; the stack runs with the demo and the CLI, its tests with the test kit
    assert members == {"dagster-dlt-dbt", "el-dlt", "transform-dbt", "orch-dagster", "testing",
                       "contract", "core", "cli", "demo"}  # fmt: skip
    contract = _workflow("contract.yml")["on"]["push"]["paths"]
    # the contract's dev group (stacks-testing) is what its tests run with
    assert "packages/testing/**" in contract
    assert "packages/el-dlt/**" not in contract


def test_the_cross_package_workflow_runs_on_every_change() -> None:
    doc = _workflow("cross-package.yml")
    assert doc["on"] == {"push": None, "pull_request": None}  # no paths filter
    runs = [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]
    assert "scripts/test tests" in runs
    assert "make lint" in runs


def test_actionlint_passes_on_the_workflows() -> None:
    proc = _actionlint()  # finds .github/workflows itself
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path: Path) -> None:
    target = tmp_path / ".github" / "workflows" / "el-dlt.yml"
    target.parent.mkdir(parents=True)
    text = (WORKFLOWS / "el-dlt.yml").read_text()
    target.write_text(text)
    assert _actionlint(str(target), cwd=tmp_path).returncode == 0  # the copy itself is fine
    broken = text.replace("    runs-on: ubuntu-latest\n", "    runs_on: ubuntu-latest\n")
    broken = broken.replace(
        "run: scripts/test el-dlt", "run: scripts/test ${{ matrix.member }} $EXTRA_ARGS"
    )
    assert broken.count("runs_on") == 1 and "matrix.member" in broken
    target.write_text(broken)
    proc = _actionlint(str(target), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'unexpected key "runs_on"' in proc.stdout  # the workflow's schema
    assert 'property "member" is not defined' in proc.stdout  # its expressions
    assert "SC2086" in proc.stdout  # and its shell scripts, through shellcheck


def test_workflows_check_names_stale_files_and_new_members(tmp_path: Path) -> None:
    # a copy of what the generator reads, so the repository is not touched
    for rel in ("scripts/workflows", "README.md", ".github/workflows"):
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    for folder in MEMBERS.values():
        dst = tmp_path / folder.relative_to(ROOT) / "pyproject.toml"
        dst.parent.mkdir(parents=True)
        shutil.copy2(folder / "pyproject.toml", dst)
    script = [sys.executable, str(tmp_path / "scripts" / "workflows")]
    assert subprocess.run([*script, "--check"], cwd=tmp_path).returncode == 0

    new = tmp_path / "packages" / "el-new" / "pyproject.toml"
    new.parent.mkdir()
    new.write_text('[project]\nname = "stacks-el-new"\ndependencies = ["stacks-el-dlt"]\n')
    edited = tmp_path / ".github" / "workflows" / "contract.yml"
    edited.write_text(edited.read_text().replace("postgres:15", "postgres:9"))
    proc = subprocess.run([*script, "--check"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "stale: .github/workflows/contract.yml",
        "stale: .github/workflows/el-new.yml",
    ]
    assert subprocess.run(script, cwd=tmp_path, capture_output=True).returncode == 0
    assert subprocess.run([*script, "--check"], cwd=tmp_path).returncode == 0
    written = yaml.safe_load((tmp_path / ".github" / "workflows" / "el-new.yml").read_text())
    paths = written[True]["push"]["paths"]
    assert paths[:2] == ["packages/el-new/**", "packages/contract/**"]
    assert "packages/el-dlt/**" in paths
