"""The workspace's layering rules, read from the members' files (no imports of the tools).

The floors, bottom up: the contract (``packages/contract``: pydantic and the standard library)
<- the runtime (``packages/core``) <- the tool packages (``el-*``, ``transform-*``, ``orch-*``)
<- the command (``packages/cli``) and the stacks (``stacks/*``). Beside them: the test kit
(``packages/testing``, contract + core, tests only) and the demo (``packages/demo``, contract
only), which no stack needs the test kit for at run time.

* a member requires (dependencies) only members of a lower floor; a tool package needs a sibling
  tool package only as an optional extra (``stacks-orch-dagster[dlt]``), and imports one only
  when that extra declares it; tests (dependency groups) may use anything but a stack;
* no module imports another member's private names (``from stacks_x import _y``, ``x._y``);
* the contract, core, cli, demo and the test kit import no tool; the contract imports nothing
  but the standard library and pydantic;
* no import loop among a member's own modules (``if TYPE_CHECKING:`` imports aside);
* naming: folder packages/<x> -> distribution stacks-<x> -> import stacks_<x>, same for stacks/;
* every member ships py.typed and an ``__all__``; no module anywhere under src/ is named dbt_*
  (dbt imports every top-level dbt_* module as a plugin).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = sorted(
    p.parent
    for p in [*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("stacks/*/pyproject.toml")]
)
PACKAGES = ROOT / "packages"
CONTRACT, CORE, CLI = PACKAGES / "contract", PACKAGES / "core", PACKAGES / "cli"
TESTING, DEMO = PACKAGES / "testing", PACKAGES / "demo"
TOOL_PACKAGES = [
    m for m in MEMBERS if m.parent == PACKAGES and m not in (CONTRACT, CORE, CLI, TESTING, DEMO)
]
STACKS = [m for m in MEMBERS if m.parent.name == "stacks"]
#: member -> the members its runtime requirements (dependencies and extras) may name
ALLOWED = {
    CONTRACT: set(),
    CORE: {CONTRACT},
    DEMO: {CONTRACT},
    TESTING: {CONTRACT, CORE},
    CLI: {CONTRACT, CORE},
    **{m: {CONTRACT, CORE} for m in TOOL_PACKAGES},
    **{m: {CONTRACT, CORE, CLI, DEMO, *TOOL_PACKAGES} for m in STACKS},
}
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
    assert {CONTRACT, CORE, CLI, TESTING, DEMO} <= set(MEMBERS)
    assert TOOL_PACKAGES and STACKS
    assert set(ALLOWED) == set(MEMBERS), "a member has no floor: add it to ALLOWED"


@pytest.mark.parametrize("member", MEMBERS, ids=_id)
def test_members_require_only_lower_floors(member: Path) -> None:
    own = _dist(member)
    allowed = {_dist(m) for m in ALLOWED[member]}
    for section, names in _requirements(member).items():
        ours = {n for n in names if n in WORKSPACE and n != own}
        if section.startswith("group "):  # tests may use the test kit, the demo, siblings
            bad = sorted(n for n in ours if WORKSPACE[n] in STACKS and member not in STACKS)
        elif section.startswith("extra ") and member in TOOL_PACKAGES:
            # a sibling tool package as an optional extra (a native integration) is allowed
            bad = sorted(n for n in ours if n not in allowed and WORKSPACE[n] not in TOOL_PACKAGES)
        else:
            bad = sorted(ours - allowed)
        assert not bad, f"{_id(member)} [{section}] depends on {bad}: not a lower floor"


@pytest.mark.parametrize("member", TOOL_PACKAGES, ids=_id)
def test_tool_packages_import_siblings_only_through_declared_extras(member: Path) -> None:
    extras = {n for s, ns in _requirements(member).items() if s.startswith("extra ") for n in ns}
    siblings = {f"stacks_{m.name.replace('-', '_')}": _dist(m) for m in TOOL_PACKAGES}
    own = f"stacks_{member.name.replace('-', '_')}"
    offenders = {}
    for path in sorted((member / "src").rglob("*.py")):
        bad = sorted(
            r for r in _imported_roots(path) if r in siblings and r != own
            and siblings[r] not in extras
        )  # fmt: skip
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_contract_imports_only_the_standard_library_and_pydantic() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "stacks_contract", "__future__"}
    offenders = {}
    for path in sorted((CONTRACT / "src").rglob("*.py")):
        bad = sorted(_imported_roots(path) - allowed)
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}
    deps = _requirements(CONTRACT)["dependencies"]
    assert deps == {"pydantic"}, f"stacks-contract requires {sorted(deps)}"


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


@pytest.mark.parametrize("member", [CONTRACT, CORE, CLI, TESTING, DEMO], ids=_id)
def test_the_tool_free_members_import_no_tool(member: Path) -> None:
    offenders = {}
    for path in sorted((member / "src").rglob("*.py")):
        tools = sorted(r for r in _imported_roots(path) if TOOL_MODULES.match(r))
        if tools:
            offenders[str(path.relative_to(ROOT))] = tools
    assert offenders == {}
    for section, names in _requirements(member).items():
        if not section.startswith("group "):
            assert not sorted(n for n in names if _is_tool(n)), f"{_id(member)} [{section}]"


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


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (i for n in node.orelse for i in _runtime_imports(ast.Module([n], [])))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def _import_graph(member: Path) -> dict[str, set[str]]:
    """module -> the member's own modules it imports. A package's ``__init__`` importing its
    submodules is no loop, but a submodule importing a name from its package's ``__init__``
    that imports it back is."""
    src = member / "src"
    paths = {_module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                # `from pkg import sub` imports the module pkg.sub; any other name comes from
                # pkg itself (its __init__ when pkg is a package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base
                           for a in node.names]  # fmt: skip
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("member", MEMBERS, ids=_id)
def test_no_import_loop_among_a_members_modules(member: Path) -> None:
    assert _cycles(_import_graph(member)) == []


def test_the_loop_check_would_catch_a_loop() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
