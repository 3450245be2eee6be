"""The registry against the real installed entry points, and `stacks --help` importing no tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from stacks_contract.errors import ConfigError
from stacks_core import registry

# top-level import names of every tool a stack may use
TOOLS = (
    "dlt",
    "dbt",
    "dagster",
    "dagster_dbt",
    "dagster_dlt",
    "airflow",
    "cosmos",
    "temporalio",
    "airbyte",
    "airbyte_api",
    "pyarrow",
    "sqlalchemy",
)


STACK_MODULE = """
from stacks_contract.ports import Orchestrator, Stack


class Toy(Stack):
    name = "toy-stack"

    def orchestrator(self) -> Orchestrator:
        raise NotImplementedError

    def spec(self, warehouse):
        raise NotImplementedError


def build_stack():
    return Toy()
"""


@pytest.fixture
def installed_toy(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) declaring one stack entry point."""
    (tmp_path / "toy_stack_pkg.py").write_text(STACK_MODULE)
    info = tmp_path / "toy_stack-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-stack\nVersion: 0.1\nSummary: A toy stack for tests.\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{registry.GROUP}]\ntoy-stack = toy_stack_pkg:build_stack\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_stack_pkg", raising=False)
    return tmp_path


def test_discovers_loads_and_describes_an_installed_stack(installed_toy) -> None:
    stacks = registry.available_stacks()
    ep = stacks["toy-stack"]
    assert ep.group == registry.GROUP and ep.value == "toy_stack_pkg:build_stack"
    assert "toy_stack_pkg" not in sys.modules  # listing imports nothing
    assert registry.describe(ep) == "A toy stack for tests."
    stack = registry.load_stack("toy-stack")
    assert type(stack).__name__ == "Toy" and stack.name == "toy-stack"


def test_unknown_name_lists_installed_stacks(installed_toy) -> None:
    with pytest.raises(ConfigError) as info:
        registry.load_stack("no-such-stack")
    msg = str(info.value)
    assert msg.startswith("Unknown stack 'no-such-stack'. Installed stacks: ")
    assert "toy-stack" in msg


def test_a_reference_names_a_stack_in_a_file_or_module_without_installing_it(
    tmp_path, monkeypatch
) -> None:
    """`stacks run my_stacks.py:build_stack`: a stack composed in user code, no entry point."""
    (tmp_path / "my_stacks.py").write_text(STACK_MODULE + "\nTOY = Toy()\nNOT_A_STACK = 42\n")
    by_file = registry.load_stack(f"{tmp_path / 'my_stacks.py'}:build_stack")
    assert type(by_file).__name__ == "Toy" and by_file.name == "toy-stack"
    assert registry.load_stack(f"{tmp_path / 'my_stacks.py'}:TOY").name == "toy-stack"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.load_stack("my_stacks:build_stack").name == "toy-stack"
    for ref, words in [
        (f"{tmp_path / 'nope.py'}:build_stack", "there is no file"),
        ("my_stacks:missing", "has no 'missing'"),
        ("my_stacks:NOT_A_STACK", "not a stacks_contract.ports.Stack"),
    ]:
        with pytest.raises(ConfigError, match=words):
            registry.load_stack(ref)
    # a URL typed where the name goes is not a reference: still "Unknown stack"
    assert not registry.is_reference("postgresql://u:pw@host:5432/db")
    with pytest.raises(ConfigError, match="Unknown stack"):
        registry.load_stack("postgresql://u:pw@host:5432/db")


def test_stacks_list_in_a_fresh_process_shows_the_installed_stack(installed_toy) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed_toy), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "stacks_cli.main", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "toy-stack" in x)
    assert "A toy stack for tests." in line


def test_no_stacks_installed(monkeypatch) -> None:
    monkeypatch.setattr(registry, "available_stacks", dict)
    with pytest.raises(ConfigError) as raised:
        registry.load_stack("x")
    # the advice `stacks list` gives too, never `uv sync --package ...` (it strips the env)
    assert str(raised.value) == (
        "Unknown stack 'x'. No stacks are installed: `uv run stacks init my-stack` makes one of "
        "your own (in a stacks checkout, `uv sync --all-packages` installs the shipped ones)."
    )


def _imported_tools(code: str) -> tuple[list[str], str]:
    """Run ``code`` in a fresh interpreter, then report which tool modules got imported."""
    probe = (
        "import json, sys\n"
        + textwrap.dedent(code)
        + f"\ntools = {TOOLS!r}\n"
        + 'print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tools)))\n'
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    *output, last = proc.stdout.strip().splitlines()
    return json.loads(last), "\n".join(output)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["check", "--help"], ["list"], ["--version"]],
    ids=" ".join,
)
def test_cli_imports_no_tool(args: list[str]) -> None:
    code = f"""
        from stacks_cli.main import main
        try:
            main({args!r})
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        """
    tools, output = _imported_tools(textwrap.dedent(code))
    assert tools == []
    assert output  # the command really printed something


def test_the_import_probe_sees_a_tool_import() -> None:
    # guards the test above: the probe must notice when a tool does get imported (a stand-in
    # module, so this also holds in the contract's own environment, where dlt is not installed)
    tools, _ = _imported_tools("sys.modules['dlt.common'] = type(sys)('dlt.common')")
    assert tools == ["dlt.common"]


def test_stacks_console_script_help() -> None:
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "stacks"
    exe = str(script) if script.exists() else shutil.which("stacks")
    assert exe, "the `stacks` console script is not installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: stacks" in proc.stdout
