"""Every command in every README runs: the fenced ``bash``/``sh``/``console`` and ``python``
blocks of README.md and of each member's README, top to bottom, as a user would follow them.

Each README gets a fresh working folder (so ``./.stacks/`` defaults start empty) shared by its
blocks in order; ``uv run X`` runs X in this test's environment (the synced workspace); a
``postgresql://...`` placeholder becomes a fresh database on the test Postgres server. An HTML
comment right before a block steers it (the reason shows in the skip message):

    <!-- readme-test: skip (needs a remote Airbyte server) -->
    <!-- readme-test: exit 2 -->                       the block must end with this exit code
    <!-- readme-test: omit scripts/test (runs the whole test suite) -->   drop the lines that
                                                       start with these words, run the rest
    <!-- readme-test: expect TEXT -->                  the block's output (stdout and stderr)
                                                       must contain TEXT: what the prose around
                                                       it claims, as a run shows it

Markers on consecutive lines all apply (e.g. an ``omit`` and an ``expect``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELLS = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|exit|omit|expect)\s*(.*?)\s*-->")
PLACEHOLDER_PG = re.compile(r"postgresql://user(:[^@\s]+)?@(localhost|host)[^\s'\"]*")
TIMEOUT = 300
pytestmark = pytest.mark.readme
# `uv run [options] CMD ...` -> CMD in this environment; any other uv command is uv itself
PRELUDE = r"""
set -eo pipefail
uv() {
  if [ "$1" != run ]; then command uv "$@"; return; fi
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --package|--project|--with|--python|-p|--group|--extra) shift 2 ;;
      -*) shift ;;
      *) break ;;
    esac
  done
  "$@"
}
"""


@dataclass(frozen=True)
class Block:
    readme: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None = None
    exit_code: int = 0
    expect: str | None = None

    @property
    def id(self) -> str:
        return f"{self.readme.relative_to(ROOT)}:{self.line}"


def readmes() -> list[Path]:
    found = [ROOT / "README.md"]
    for group in ("packages", "stacks"):
        found += sorted(p.parent / "README.md" for p in (ROOT / group).glob("*/pyproject.toml"))
    return found


def markers(lines: list[str], fence: int) -> list[re.Match[str]]:
    """The marker lines right above the fence at ``fence`` (blank lines between allowed)."""
    found: list[re.Match[str]] = []
    for k in range(fence - 1, -1, -1):
        if not lines[k].strip():
            continue
        marker = MARKER.search(lines[k])
        if marker is None:
            break
        found.append(marker)
    return found[::-1]


def blocks(readme: Path) -> list[Block]:
    lines = readme.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        lang, body = fence.group(1), lines[i + 1 : end]
        if lang in SHELLS or lang == "python":
            skip, exit_code, expect = None, 0, None
            for marker in markers(lines, i):
                if marker.group(1) == "skip":
                    skip = marker.group(2).strip("() ") or "marked skip"
                elif marker.group(1) == "exit":
                    exit_code = int(marker.group(2))
                elif marker.group(1) == "expect":
                    expect = marker.group(2)
                else:  # omit WORDS (reason)
                    words = marker.group(2).split("(")[0].strip()
                    body = [b for b in body if not b.lstrip().startswith(words)]
            code = "\n".join(b[2:] if lang == "console" and b.startswith("$ ") else b for b in body)
            out.append(Block(readme, i + 1, lang, code + "\n", skip, exit_code, expect))
        i = end + 1
    return out


ALL = [b for r in readmes() if r.exists() for b in blocks(r)]


def test_every_member_has_a_readme_with_a_runnable_example() -> None:
    members = [p.parent for g in ("packages", "stacks") for p in (ROOT / g).glob("*/pyproject.*")]
    missing = [str(m.relative_to(ROOT)) for m in members if not (m / "README.md").exists()]
    assert not missing, f"members without a README.md: {missing}"
    no_example = [
        str(m.relative_to(ROOT))
        for m in members
        if not [b for b in blocks(m / "README.md") if b.skip is None]
    ]
    assert not no_example, f"READMEs without a block this test runs: {no_example}"


#: what the CLI and the shipped stacks print as advice: the sources of that text
ADVICE_SOURCES = ("packages/cli/src", "packages/core/src", "packages/demo/src", "stacks")
ADVICE = re.compile(
    r"uv run (stacks [a-z]+|pytest|python -[cm]|temporal server start-dev|dagster dev)"
)
#: a command between backticks in a printed string: `stacks X ...`, `uv run stacks X ...`,
#: `uv sync ...` (bare `stacks X` is the CLI named, or advice missing its `uv run`)
QUOTED = re.compile(r"`((uv run )?stacks ([a-z]+)([^`]*)|uv sync[^`]*)`")
FLAG = re.compile(r"--[a-z][a-z-]*")


def printed_strings(path: Path) -> list[str]:
    """The string literals of a module, docstrings left out: what it can print."""
    tree = ast.parse(path.read_text())
    skip = {  # docstrings; below, the parts of each f-string (ast.walk meets it first)
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string, whole: its fields as {}
            parts = node.values
            skip |= {id(v) for v in parts}
            found.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in parts))
        elif isinstance(node, ast.Constant) and id(node) not in skip:
            found += [node.value] if isinstance(node.value, str) else []
    return found


def sources() -> Iterator[Path]:
    for folder in ADVICE_SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".tmpl") and "/tests/" not in str(path):
                yield path


def advised() -> dict[str, Path]:
    """Every command the CLI or a stack prints as advice: `uv run X` (up to its subcommand,
    then the `--options` it names, space-separated), `uv sync ...`, and a bare `stacks X`
    named between backticks (as `uv run stacks X`) -> where."""
    found: dict[str, Path] = {}
    for path in sources():
        for m in ADVICE.finditer(path.read_text()):
            found.setdefault(m.group(0), path)
        if path.suffix != ".py":
            continue
        for text in printed_strings(path):
            for m in QUOTED.finditer(text):
                if m.group(3) is None:  # uv sync ...
                    found.setdefault(m.group(1).strip(), path)
                    continue
                command = f"uv run stacks {m.group(3)}"
                found.setdefault(" ".join([command, *FLAG.findall(m.group(4))]), path)
    return found


def bare_advice() -> list[str]:
    """Printed commands to type (`stacks X` with arguments) that lack their `uv run`: in a
    checkout nothing is activated, so a bare `stacks` is not on PATH."""
    return [
        f"`{m.group(1)}` (printed by {path.relative_to(ROOT)})"
        for path in sources()
        if path.suffix == ".py"
        for text in printed_strings(path)
        for m in QUOTED.finditer(text)
        if m.group(3) and not m.group(2) and m.group(4).strip()
    ]


def runs_in(command: str, block: Block) -> bool:
    """``command`` (a command, then the options it names) is on one line of ``block``."""
    head, *flags = re.split(r" (?=--)", command)
    lines = block.code.replace("\\\n", " ").splitlines()
    return any(head in line and all(f in line.split() for f in flags) for line in lines)


def test_every_command_the_cli_advises_is_run_by_the_readme_test() -> None:
    """An advised command is in a README block this test runs, or in one whose skip reason
    names the test that runs it instead (and that test exists); advice to type a `stacks`
    command says `uv run stacks`."""
    found = advised()
    assert {"uv run stacks init", "uv run stacks list", "uv run pytest"} <= found.keys()
    assert {"uv run stacks check --advance", "uv sync --all-packages"} <= found.keys()
    missing = []
    for command, source in found.items():
        runs = [b for b in ALL if runs_in(command, b) and not b.skip]
        named = [
            b
            for b in ALL
            if runs_in(command, b)
            and b.skip
            and any(
                (ROOT / t).is_file() or (b.readme.parent / t).is_file()
                for t in re.findall(r"[\w/.-]+/test_\w+\.py", b.skip)
            )
        ]
        if not runs and not named:
            missing.append(f"{command!r} (printed by {source.relative_to(ROOT)})")
    assert not missing, "advised, but no README block runs it: " + ", ".join(missing)
    assert not bare_advice(), "advice without `uv run`: " + ", ".join(bare_advice())


def test_the_conformance_example_is_the_one_stacks_init_writes() -> None:
    """The README's complete harness is the scaffold's test, byte for byte (its own test runs
    in stacks/dagster-dlt-dbt/tests/test_dagster_dlt_dbt_init.py)."""
    from stacks_cli.scaffold import render

    written = render("my-stack", None)
    shown = {
        b.code.splitlines()[0][2:]: "\n".join(b.code.splitlines()[1:]) + "\n"
        for b in blocks(ROOT / "README.md")
        if b.lang == "python" and b.code.startswith("# tests/")
    }
    assert sorted(shown) == ["tests/conftest.py", "tests/test_conformance.py"]
    for path, code in shown.items():
        assert code == written[path], f"README.md's {path} is not what `stacks init` writes"


def test_the_readme_init_block_is_what_stacks_init_prints() -> None:
    """README.md's `stacks init` block is `uv run stacks init my-stack` and then the commands
    the CLI prints after it, verbatim (comments aside): the two cannot drift apart."""
    from stacks_cli.init import next_commands

    block = next(b for b in blocks(ROOT / "README.md") if b.code.startswith("uv run stacks init"))
    shown = [c for line in block.code.splitlines() if (c := line.split("#")[0].strip())]
    assert shown == ["uv run stacks init my-stack", *next_commands(Path("my-stack"), "my-stack")]


def test_the_first_command_says_at_once_what_it_is_doing() -> None:
    """The README's first command block expects the run's first line (which the prose above it
    promises), so the README test fails when the run starts silently."""
    first = next(b for b in blocks(ROOT / "README.md") if not b.skip)
    assert first.code.startswith("uv run stacks run dagster-dlt-dbt")
    assert first.expect == "dagster-dlt-dbt resolving the stack"


def run_block(block: Block, cwd: Path, postgres_url: str | None) -> tuple[int, str]:
    """Run one block in ``cwd``: (exit code, output); the output's tail, unless the block
    expects a text, then all of it."""
    code = PLACEHOLDER_PG.sub(postgres_url, block.code) if postgres_url else block.code
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "STACKS_DLT_DIR": str(cwd / ".dlt-state"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NO_COLOR": "1",
    }
    for name in (
        *("STACKS_WAREHOUSE", "STACKS_SHOP_URL", "TEMPORAL_ADDRESS", "AIRFLOW_HOME"),
        *("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"),
    ):
        env.pop(name, None)  # a fresh warehouse, a demo shop and a dev server of the run's own
    if block.lang == "python":
        script = cwd / f"readme_{block.line}.py"
        script.write_text(code)
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["bash", "-c", PRELUDE + code]
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return -1, f"still running after {TIMEOUT}s"
    # stdout last: a failure's tail shows what the command concluded, not only its progress
    output = proc.stderr + proc.stdout
    return proc.returncode, output if block.expect else output[-4000:]


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[tuple[int, str]]]]:
    """Start the selected blocks: each README's in order in its own folder, READMEs in parallel
    (the blocks of one README share state, those of two READMEs never do)."""
    wanted = {
        item.callspec.params["block"].id
        for item in request.session.items
        if hasattr(item, "callspec") and "block" in item.callspec.params
    }
    todo: dict[Path, list[Block]] = {}
    for block in ALL:
        if block.id in wanted and not block.skip:
            todo.setdefault(block.readme, []).append(block)
    urls: dict[Path, str] = {}
    for readme, its in todo.items():  # databases made here, in the fixture's thread
        if any(PLACEHOLDER_PG.search(b.code) for b in its):
            server = request.getfixturevalue("postgres_server")
            urls[readme] = server.create_database("readme").url()
    futures: dict[str, Future[tuple[int, str]]] = {
        b.id: Future() for its in todo.values() for b in its
    }

    def follow(readme: Path, its: list[Block]) -> None:
        cwd = tmp_path_factory.mktemp("readme")
        (cwd / "stacks").symlink_to(ROOT)  # the checkout, as `../stacks` of a project in cwd
        for block in its:
            futures[block.id].set_result(run_block(block, cwd, urls.get(readme)))

    pool = ThreadPoolExecutor(int(os.environ.get("STACKS_README_JOBS", "3")))
    for readme, its in sorted(todo.items(), key=lambda kv: -len(kv[1])):
        pool.submit(follow, readme, its)
    yield futures
    pool.shutdown(wait=True)


@pytest.mark.slow
@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_readme_block_runs(block: Block, outcomes: dict[str, Future[tuple[int, str]]]) -> None:
    if block.skip:
        pytest.skip(f"{block.id}: {block.skip}")
    code, output = outcomes[block.id].result(timeout=TIMEOUT * 10)
    assert code == block.exit_code, (
        f"{block.id} ({block.lang} block) exited {code}, expected {block.exit_code}:\n"
        f"{block.code}\n--- output (tail) ---\n{output[-4000:]}"
    )
    if block.expect:
        assert block.expect in output, (
            f"{block.id}: the README says so, yet the run did not print {block.expect!r}:\n"
            f"--- output (tail) ---\n{output[-4000:]}"
        )
