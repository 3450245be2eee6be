"""What ``stacks init`` writes: the files under ``template/``, a stack package of its own (CSV
files landing in a folder -> dlt -> dbt -> Dagster, the conformance suites on its step and its
dbt project, a whole-run test), with the placeholders filled in.

Placeholders: ``__NAME__`` (the stack and distribution name), ``__MODULE__`` (its import name),
``__ENV__`` (its environment variables' prefix), ``__BOUND__`` (the version range of the stacks
packages, this ``stacks-cli``'s minor release) and ``__SOURCES__`` (where uv finds them: the
checkout this command runs from, or the package index). A ``.tmpl`` suffix keeps a template out
of ruff's, pytest's and uv's sight; ``gitignore`` becomes ``.gitignore``.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

__all__ = ["TEMPLATE", "checkout", "module_name", "render", "write"]

TEMPLATE = Path(__file__).parent / "template"
#: the workspace members a scaffolded stack installs (its dependencies and theirs, test kit too)
MEMBERS = ("cli", "contract", "core", "el-dlt", "orch-dagster", "testing", "transform-dbt")


def module_name(name: str) -> str:
    """The import name for stack ``name``: ``my-stack`` -> ``stacks_my_stack``."""
    return "stacks_" + name.replace("-", "_")


def checkout() -> Path | None:
    """The stacks checkout this command runs from (an editable install), or None (wheels)."""
    root = Path(__file__).resolve().parents[4]
    pyproject = root / "pyproject.toml"
    if (root / "packages" / "cli" / "pyproject.toml").is_file() and pyproject.is_file():
        return root if "[tool.uv.workspace]" in pyproject.read_text() else None
    return None


def _bound() -> str:
    major, minor = (int(x) for x in re.findall(r"\d+", version("stacks-cli"))[:2])
    return f">={major}.{minor},<{major}.{minor + 1}"


def _sources(root: Path | None) -> str:
    if root is None:
        return "# the stacks packages come from your package index, at the versions above\n"
    lines = [
        f"# the stacks packages from the checkout at {root} (not on PyPI yet); once they are,",
        "# delete this table and the versions above apply",
        "[tool.uv.sources]",
    ]
    for member in MEMBERS:
        path = (root / "packages" / member).as_posix()
        lines.append(f'stacks-{member} = {{ path = "{path}", editable = true }}')
    return "\n" + "\n".join(lines) + "\n"


def render(name: str, root: Path | None) -> dict[str, str]:
    """Relative path -> content of every file for stack ``name``."""
    module = module_name(name)
    values = {
        "__NAME__": name,
        "__MODULE__": module,
        "__ENV__": name.upper().replace("-", "_"),
        "__BOUND__": _bound(),
        "__SOURCES__": _sources(root).rstrip("\n"),
    }
    out: dict[str, str] = {}
    for path in sorted(TEMPLATE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(TEMPLATE).as_posix().replace("__MODULE__", module)
        rel = re.sub(r"\.tmpl$", "", rel)
        rel = re.sub(r"(^|/)gitignore$", r"\1.gitignore", rel)
        text = path.read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        out[rel] = text
    return out


def write(root: Path, name: str) -> list[Path]:
    """Write the package for stack ``name`` under ``root``; the files written, in order."""
    written = []
    for rel, text in render(name, checkout()).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
