"""The workspace's layering rules, read from the members' files (no imports of the tools).

* a tool package's required dependencies are the contract plus third-party libraries; a sibling
  package only as an optional extra (``stacks-orch-dagster[dlt]``); the test kit only in dev;
* no module imports another member's private names (``from stacks_x import _y``, ``x._y``);
* outside the tool packages and stacks, no module imports a tool (the contract, the test kit);
* the contract depends on no tool, and no module of it imports one;
* a stack (stacks/*) may combine packages, but a package never depends on a stack;
* naming: folder packages/<x> -> distribution stacks-<x> -> import stacks_<x>, same for stacks/;
* every member ships py.typed and an ``__all__``; no module anywhere under src/ is named dbt_*
  (dbt imports every top-level dbt_* module as a plugin).
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = sorted(
    p.parent
    for p in [*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("stacks/*/pyproject.toml")]
)
CONTRACT = ROOT / "packages" / "contract"
TESTING = ROOT / "packages" / "testing"
TOOL_PACKAGES = [m for m in MEMBERS if m.parent.name == "packages" and m not in (CONTRACT, TESTING)]
#: distributions (canonical names, prefixes with a trailing '*') the contract must never need
TOOLS = (
    "dlt",
    "dbt-*",
    "dagster*",
    "apache-airflow*",
    "temporalio",
    "airbyte*",
    "astronomer-cosmos",
)
#: top-level import names of those tools
TOOL_MODULES = re.compile(r"^(dlt|dbt|dagster\w*|airflow|temporalio|airbyte\w*|cosmos)$")


def _pyproject(member: Path) -> dict:
    return tomllib.loads((member / "pyproject.toml").read_text())


def _dist(member: Path) -> str:
    return canonicalize_name(_pyproject(member)["project"]["name"])


WORKSPACE = {_dist(m): m for m in MEMBERS}


def _requirements(member: Path) -> dict[str, set[str]]:
    """section -> canonical names required there (dependencies, each extra, each group)."""
    data = _pyproject(member)
    project = data["project"]
    sections: dict[str, list] = {"dependencies": project.get("dependencies", [])}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        sections[f"extra {extra}"] = reqs
    for group, reqs in data.get("dependency-groups", {}).items():
        sections[f"group {group}"] = [r for r in reqs if isinstance(r, str)]  # skip include-group
    return {
        section: {canonicalize_name(Requirement(r).name) for r in reqs}
        for section, reqs in sections.items()
    }


def _is_tool(dist: str) -> bool:
    return any(dist.startswith(t[:-1]) if t.endswith("*") else dist == t for t in TOOLS)


def _id(member: Path) -> str:
    return str(member.relative_to(ROOT))


def test_the_workspace_has_the_expected_members() -> None:
    assert CONTRACT in MEMBERS
    assert TOOL_PACKAGES, "no tool packages found"
    assert "stacks-contract" in WORKSPACE


@pytest.mark.parametrize("member", TOOL_PACKAGES, ids=_id)
def test_tool_packages_require_only_the_contract(member: Path) -> None:
    own = _dist(member)
    for section, names in _requirements(member).items():
        others = sorted(n for n in names if n in WORKSPACE and n not in (own, "stacks-contract"))
        if section.startswith("extra "):
            # a sibling package as an optional extra (native integration) is allowed; a stack
            # or the test kit is not
            others = [n for n in others if WORKSPACE[n] not in TOOL_PACKAGES]
        elif section.startswith("group "):  # tests may use the test kit and siblings
            others = [n for n in others if WORKSPACE[n].parent.name == "stacks"]
        assert not others, f"{_id(member)} [{section}] depends on workspace members {others}"
    assert "stacks-contract" in _requirements(member)["dependencies"]


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            root = node.module.split(".")[0]
            if root.startswith("stacks_"):
                parts = node.module.split(".")[1:] + [a.name for a in node.names]
                found += [f"{node.module}: {p}" for p in parts if p.startswith("_")]
    return found


@pytest.mark.parametrize("member", MEMBERS, ids=_id)
def test_no_module_imports_another_members_private_names(member: Path) -> None:
    own = f"stacks_{member.name.replace('-', '_')}"
    offenders = {}
    for path in sorted((member / "src").rglob("*.py")):
        bad = [b for b in _private_imports(path) if not b.startswith(own)]
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_test_kit_imports_no_tool() -> None:
    offenders = {}
    for path in sorted((TESTING / "src").rglob("*.py")):
        tools = sorted(r for r in _imported_roots(path) if TOOL_MODULES.match(r))
        if tools:
            offenders[str(path.relative_to(ROOT))] = tools
    assert offenders == {}


def test_the_contract_depends_on_no_tool() -> None:
    for section, names in _requirements(CONTRACT).items():
        tools = sorted(n for n in names if _is_tool(n))
        assert not tools, f"stacks-contract [{section}] depends on tools {tools}"
        members = sorted(n for n in names if n in WORKSPACE and n != "stacks-contract")
        if section.startswith("group "):  # the contract's own tests use the test kit
            members = [n for n in members if WORKSPACE[n] != TESTING]
        assert not members, f"stacks-contract [{section}] depends on {members}"


def test_the_tool_check_would_catch_a_tool() -> None:
    assert all(_is_tool(n) for n in ("dlt", "dbt-core", "dagster-dbt", "apache-airflow", "airbyte"))
    assert not any(_is_tool(n) for n in ("pydantic", "duckdb", "dbtx", "rich"))


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):  # includes imports inside functions: the contract has none
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_contract_module_imports_a_tool() -> None:
    offenders = {}
    for path in sorted((CONTRACT / "src").rglob("*.py")):
        tools = sorted(r for r in _imported_roots(path) if TOOL_MODULES.match(r))
        if tools:
            offenders[str(path.relative_to(ROOT))] = tools
    assert offenders == {}


@pytest.mark.parametrize("member", [m for m in MEMBERS if m.parent.name == "packages"], ids=_id)
def test_no_package_depends_on_a_stack(member: Path) -> None:
    stacks = {d for d, m in WORKSPACE.items() if m.parent.name == "stacks"}
    for section, names in _requirements(member).items():
        assert not (names & stacks), f"{_id(member)} [{section}] depends on stacks {names & stacks}"


@pytest.mark.parametrize("member", MEMBERS, ids=_id)
def test_naming_and_typing(member: Path) -> None:
    folder = member.name
    assert _dist(member) == f"stacks-{folder}"
    package = member / "src" / f"stacks_{folder.replace('-', '_')}"
    assert package.is_dir(), f"expected the import package {package.relative_to(ROOT)}"
    assert (package / "py.typed").is_file(), f"{_id(member)} ships no py.typed"
    init = package / "__init__.py"
    assert init.is_file(), f"{_id(member)} has no __init__.py"
    names = {
        t.id
        for node in ast.parse(init.read_text()).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    assert "__all__" in names, f"{init.relative_to(ROOT)} defines no __all__"


def _is_module(path: Path, src: Path) -> bool:
    if path.suffix == ".py":
        return True
    if path.is_dir():
        # a regular package, or any directory directly on the import path (a namespace package);
        # a data folder inside a package (a dbt project, say) is not importable as dbt_*
        return (path / "__init__.py").exists() or path.parent == src
    return False


def test_no_module_is_named_dbt_star() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for member in MEMBERS
        for p in (member / "src").rglob("dbt_*")
        if _is_module(p, member / "src")
    ]
    assert bad == []


def test_every_member_is_a_workspace_source_of_the_root() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sources = {
        canonicalize_name(k) for k, v in root["tool"]["uv"]["sources"].items() if v.get("workspace")
    }
    assert set(WORKSPACE) <= sources, f"missing from [tool.uv.sources]: {set(WORKSPACE) - sources}"
    dev = {canonicalize_name(Requirement(r).name) for r in root["dependency-groups"]["dev"]}
    assert set(WORKSPACE) <= dev, f"missing from the root dev group: {set(WORKSPACE) - dev}"
