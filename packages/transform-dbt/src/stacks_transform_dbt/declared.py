"""What a dbt project declares, kept on disk between processes.

Planning a run (the contract's table manifest and ``--select``) needs the tables a project reads
and builds, its nodes and the models that stamp the run id. Getting them means parsing the
project; a new process (``stacks run`` from a shell) would parse it once to plan and once more
for the warehouse. The declaration is a pure function of the project's files, the parse vars,
the schemas and dbt's version, so it is cached under a key of exactly those (file paths, sizes
and mtimes, as the in-memory manifest cache does). A project that reads environment variables
(``env_var`` anywhere in its files) is never cached: its declaration could change with the
environment, and only dbt's own parse tracks that.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks_contract.models import TableRef, TransformNode

#: bump when what a declaration holds, or how it is computed, changes
FORMAT = 1
_SKIP_DIRS = frozenset({"target", "logs", ".git", "__pycache__", ".venv"})
_TEXT = (".sql", ".yml", ".yaml", ".py", ".md", ".csv", ".jinja", ".j2")


@dataclass(frozen=True)
class Declaration:
    consumed: tuple[TableRef, ...]
    produced: tuple[TableRef, ...]
    nodes: tuple[TransformNode, ...]
    stamped: tuple[TableRef, ...]

    def to_json(self) -> dict[str, Any]:
        def refs(xs: tuple[TableRef, ...]) -> list[str]:
            return [t.key for t in xs]

        return {
            "consumed": refs(self.consumed),
            "produced": refs(self.produced),
            "stamped": refs(self.stamped),
            "nodes": [n.model_dump(mode="json", by_alias=True) for n in self.nodes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Declaration:
        def refs(xs: list[str]) -> tuple[TableRef, ...]:
            return tuple(TableRef(*x.split(".", 1)) for x in xs)

        return cls(
            consumed=refs(data["consumed"]),
            produced=refs(data["produced"]),
            stamped=refs(data["stamped"]),
            nodes=tuple(TransformNode.model_validate(n) for n in data["nodes"]),
        )


def reads_environment(project_dir: Path) -> bool:
    """Whether any text file of the project mentions ``env_var``."""
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for f in files:
            if f.endswith(_TEXT):
                try:
                    if "env_var" in Path(root, f).read_text(errors="replace"):
                        return True
                except OSError:
                    return True
    return False


def cache_path(root: Path, ident: list[Any]) -> Path:
    from importlib import metadata

    key = json.dumps([FORMAT, metadata.version("dbt-core"), *ident], sort_keys=True, default=str)
    return root / f"declared-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def load(path: Path) -> Declaration | None:
    try:
        return Declaration.from_json(json.loads(path.read_text()))
    except Exception:  # absent, half-written by an older format, unreadable: parse instead
        return None


def save(path: Path, decl: Declaration) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(decl.to_json()))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache: failing to write it only costs a parse next time
