"""The parsed dbt manifest, kept in memory per (project, warehouse) and process.

Parsing is the expensive part of a small dbt run, so it is done once per (project, warehouse) and
process: the parsed manifest is kept in memory and handed to ``dbtRunner(manifest=...)``. The run
id is deliberately *not* among the parse vars: dbt throws its partial-parse state away whenever
the CLI vars change, and a var that changes every run would force a full parse in every process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import StacksError
from stacks_contract.ports import Reporter, silent

from stacks_transform_dbt.invocation import DbtInvocation, invoke

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

# Skipped when fingerprinting a project: outputs and installed packages' build debris.
_SKIP_DIRS = frozenset({"target", "logs", ".git", "__pycache__", ".venv"})


@dataclass
class Parsed:
    signature: str
    manifest: Manifest
    project_dir: Path
    parse_vars: str
    schema: str


# state key -> parsed manifest; module-level so fresh DbtTransform objects share it. Bounded:
# a manifest is megabytes, and a long test session meets a new warehouse per test.
MANIFESTS: OrderedDict[str, Parsed] = OrderedDict()
_MAX_MANIFESTS = 8


def project_signature(project_dir: Path) -> str:
    """Cheap change detector for the project's files (paths, sizes, mtimes)."""
    h = hashlib.sha1()
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for f in sorted(files):
            p = Path(root, f)
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p.relative_to(project_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cached(project_dir: Path, parse_vars: dict[str, Any], schema: str) -> Manifest | None:
    """Any manifest parsed in this process for the project with these vars and schema: node
    schemas and source tables do not depend on which warehouse it was parsed for."""
    text = json.dumps(parse_vars, sort_keys=True)
    for parsed in MANIFESTS.values():
        if (parsed.project_dir, parsed.parse_vars, parsed.schema) == (project_dir, text, schema):
            return parsed.manifest
    return None


def forget(key: str) -> None:
    MANIFESTS.pop(key, None)


def load(
    key: str,
    inv: DbtInvocation,
    *,
    source_dir: Path,
    parse_vars: dict[str, Any],
    schema: str,
    fail: Callable[[BaseException], StacksError],
    step: str,
    report: Reporter = silent,
) -> tuple[Manifest, str]:
    """The parsed manifest stored under ``key``, and how it was obtained: ``memory`` when the
    project (``source_dir``), profile and parse vars are unchanged; else a dbt ``parse``:
    ``skipped`` (dbt's saved state showed no change), ``partial`` or ``full``."""
    text = json.dumps(parse_vars, sort_keys=True)
    profile_text = (inv.profiles_dir / "profiles.yml").read_text()
    signature = hashlib.sha1(
        "\0".join([project_signature(source_dir), profile_text, text]).encode()
    ).hexdigest()
    hit = MANIFESTS.get(key)
    if hit is not None and hit.signature == signature:
        MANIFESTS.move_to_end(key)
        return hit.manifest, "memory"
    events: list[str] = []

    def listen(msg: Any) -> None:
        with contextlib.suppress(Exception):
            events.append(msg.info.name)

    had_state = (inv.target_path / "partial_parse.msgpack").exists()
    report(step, "parsing the dbt project")
    res = invoke(inv, "parse", parse_vars, callbacks=[listen])
    if not res.success or res.result is None:
        raise fail(res.exception or RuntimeError("dbt parse failed"))
    if "PartialParsingSkipParsing" in events:
        how = "skipped"
    elif had_state and "UnableToPartialParse" not in events:
        how = "partial"
    else:
        how = "full"
    MANIFESTS[key] = Parsed(signature, res.result, source_dir, text, schema)
    MANIFESTS.move_to_end(key)
    while len(MANIFESTS) > _MAX_MANIFESTS:
        MANIFESTS.popitem(last=False)
    return res.result, how
