"""What a dbt project reads, builds and stamps, and its nodes, kept on disk between processes.

`stacks plan`, `--select` and every orchestrator ask a transform for its table manifest before
anything runs; from a parse, that costs dbt's import and a parse (seconds). The answer depends
only on the project's files, the parse vars, the schemas and dbt's version, so it is stored as
JSON beside the declaration parse's state and reused while all of those are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks_contract.models import TableRef, TransformNode

from stacks_transform_dbt import graph
from stacks_transform_dbt.manifest import project_signature

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

__all__ = ["Declaration", "key", "read", "write"]


@dataclass(frozen=True)
class Declaration:
    consumes: tuple[TableRef, ...]
    produces: tuple[TableRef, ...]
    nodes: tuple[TransformNode, ...]
    stamped: tuple[TableRef, ...]
    history_keeping: tuple[TableRef, ...]
    incremental: tuple[TableRef, ...]

    @classmethod
    def of(cls, manifest: Manifest, run_id_var: str) -> Declaration:
        consumes, produces = graph.declare(manifest)
        nodes = graph.transform_nodes(manifest)
        return cls(
            consumes,
            produces,
            nodes,
            graph.stamped(manifest, run_id_var),
            graph.history_keeping(manifest),
            graph.incremental(manifest),
        )


def key(project_dir: Path, parse_vars: dict[str, Any], layout: str) -> str:
    """Changes whenever the declaration could: a project file, a var, the layout (schema,
    profile, target: see ``DbtTransform._layout``), dbt."""
    parts = [project_signature(project_dir), json.dumps(parse_vars, sort_keys=True), layout]
    return hashlib.sha1("\0".join([*parts, version("dbt-core")]).encode()).hexdigest()


def _file(folder: Path, project_dir: Path) -> Path:
    return folder / f"declaration-{hashlib.sha1(str(project_dir).encode()).hexdigest()[:10]}.json"


def read(folder: Path, project_dir: Path, key: str) -> Declaration | None:
    """The stored declaration if it was made under ``key``; None otherwise."""
    try:
        data = json.loads(_file(folder, project_dir).read_text())
        if data.get("key") != key:
            return None
        tables = {k: tuple(TableRef.model_validate(t) for t in data[k]) for k in _TABLES}
        nodes = tuple(TransformNode.model_validate(n) for n in data["nodes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or written by another version: parse again
    return Declaration(
        tables["consumes"],
        tables["produces"],
        nodes,
        tables["stamped"],
        tables["history_keeping"],
        tables["incremental"],
    )


def write(folder: Path, project_dir: Path, key: str, declaration: Declaration) -> None:
    data: dict[str, Any] = {"key": key, "project": str(project_dir)}
    for name in _TABLES:
        data[name] = [t.model_dump(mode="json", by_alias=True) for t in getattr(declaration, name)]
    data["nodes"] = [n.model_dump(mode="json", by_alias=True) for n in declaration.nodes]
    path = _file(folder, project_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # another process reads the old file or the new one, never half


_TABLES = ("consumes", "produces", "stamped", "history_keeping", "incremental")
