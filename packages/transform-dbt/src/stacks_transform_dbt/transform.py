"""The contract's :class:`~stacks_contract.ports.Transform` over dbt-core, run in-process.

One dbt project, any warehouse: the profile is rendered from the warehouse (secrets through the
environment only), sources read the schema the EL steps wrote (the ``stacks_source_schema``
var), and every run passes its run id as the ``stacks_run_id`` var.

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
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stacks_contract.errors import (
    ConfigError,
    StacksError,
    StepFailed,
    TransientError,
    WarehouseUnreachable,
)
from stacks_contract.models import (
    NodeStatus,
    RunRequest,
    TableRef,
    TransformNode,
    TransformResult,
    utcnow,
)
from stacks_contract.ports import Reporter, Transform, silent
from stacks_contract.warehouse import (
    DEFAULT_SCHEMA,
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
    redact,
)
from stacks_core.state import private_dir, use_state_dir

from stacks_transform_dbt.profiles import TARGET, profile_env, render_profile, write_profile
from stacks_transform_dbt.results import (
    BUILT_TYPES,
    clean_message,
    result_from_run_results,
    translate,
)

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

#: var naming the schema the project's sources live in (use it in sources.yml)
SOURCE_SCHEMA_VAR = "stacks_source_schema"
#: var carrying the run id (models stamp it into ``_stacks_run_id``)
RUN_ID_VAR = "stacks_run_id"

# dbt keeps process-global state (flags, adapters, event loggers): one invocation at a time.
_DBT_LOCK = threading.RLock()
# Skipped when fingerprinting a project: outputs and installed packages' build debris.
_SKIP_DIRS = frozenset({"target", "logs", ".git", "__pycache__", ".venv"})


@dataclass
class _Parsed:
    signature: str
    manifest: Manifest
    project_dir: Path
    parse_vars: str
    schema: str


# state key -> parsed manifest; module-level so fresh DbtTransform objects share it. Bounded:
# a manifest is megabytes, and a long test session meets a new warehouse per test.
_MANIFESTS: OrderedDict[str, _Parsed] = OrderedDict()
_MAX_MANIFESTS = 8


@dataclass(frozen=True)
class DbtInvocation:
    """Everything needed to call dbt (CLI or ``dbtRunner``) exactly as :meth:`DbtTransform.run`
    does. ``env`` holds the secrets: pass it in the process environment, never write it down."""

    project_dir: Path
    profiles_dir: Path
    target: str
    env: dict[str, str] = field(repr=False, hash=False, compare=False)
    vars: dict[str, Any] = field(hash=False)
    target_path: Path
    profile: str = ""
    log_path: Path | None = None

    def args(self, command: str = "build", *extra: str) -> list[str]:
        """``[command, --project-dir ..., --profiles-dir ..., ..., *extra]`` for dbt's CLI."""
        out = [
            command,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target",
            self.target,
            "--target-path",
            str(self.target_path),
            "--vars",
            json.dumps(self.vars, sort_keys=True),
        ]
        if self.profile:
            out += ["--profile", self.profile]
        if self.log_path is not None:
            out += ["--log-path", str(self.log_path)]
        return [*out, *extra]


class DbtStepFailed(StepFailed):
    """A model failed; ``result`` holds every node's outcome of that run. ``transient``: every
    failed model lost its connection (the warehouse restarted): orchestrators retry the run."""

    def __init__(
        self, step: str, message: str, result: TransformResult, *, transient: bool = False
    ) -> None:
        super().__init__(step, message)
        self.result = result
        self.transient = transient


#: dbt exceptions (by class name, subclasses included) that mean the project or profile is wrong
_CONFIG_ERRORS = frozenset(
    {
        "DbtProjectError",
        "DbtProfileError",
        "ParsingError",
        "CompilationError",
        "DbtUsageException",
        "DbtConfigError",
        "DbtVersionError",
    }
)
_VERB = {"parsed": "parse", "listed": "ls", "run": "run", "built": "build"}


def _shared_state_root() -> Path:
    """``$STACKS_DBT_STATE_DIR``, else ``$TMPDIR/stacks-dbt-<uid>``: private to the user (dbt
    writes the profile's settings and its command line there), refused if another user owns it."""
    env = os.environ.get("STACKS_DBT_STATE_DIR")
    if env:
        return private_dir(Path(env).expanduser().absolute())
    return private_dir(Path(tempfile.gettempdir()) / f"stacks-dbt-{os.getuid()}")


def _default_state_root(warehouse: Warehouse) -> Path:
    if isinstance(warehouse, DuckDBWarehouse) and not os.environ.get("STACKS_DBT_STATE_DIR"):
        # beside the warehouse file, in its .stacks area
        parent = warehouse.path.parent
        return (parent if parent.name == ".stacks" else parent / ".stacks") / "dbt"
    return _shared_state_root()


def _project_signature(project_dir: Path) -> str:
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


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance in a class attribute between invocations, which
    holds the file lock; close it so other processes (EL steps, the CLI) can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - adapter always installed with this package
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            with contextlib.suppress(Exception):
                env.close()
        DuckDBConnectionManager._ENV = None


def _parents(node: Any) -> list[str]:
    """Unique ids of the nodes ``node`` depends on; a seed's ``depends_on`` has macros only."""
    return list(getattr(node.depends_on, "nodes", []))


def _node_index(manifest: Manifest) -> dict[str, Any]:
    """The few node fields :func:`translate` reads, straight from the in-memory manifest."""

    def entry(n: Any) -> dict[str, Any]:
        return {
            "name": n.name,
            "resource_type": str(n.resource_type),
            "schema": getattr(n, "schema", None),
            "alias": getattr(n, "alias", None),
            "attached_node": getattr(n, "attached_node", None),
            "tested_node_unique_id": getattr(n, "tested_node_unique_id", None),
            "depends_on": {"nodes": _parents(n)},
        }

    return {
        "nodes": {uid: entry(n) for uid, n in manifest.nodes.items()},
        "unit_tests": {uid: entry(n) for uid, n in getattr(manifest, "unit_tests", {}).items()},
    }


class DbtTransform(Transform):
    """A dbt project as a stacks transform.

    ``schema`` is the target schema models build into (dbt's custom schemas append to it);
    ``source_schema`` the schema sources read (default: the warehouse's raw schema; ``raw`` for
    :meth:`consumes`, which knows no warehouse). ``vars`` are extra dbt vars, fixed per instance.
    ``state_dir`` holds the generated profile, ``target/`` and ``logs/`` (default: beside a DuckDB
    file, else the temp dir; ``$STACKS_DBT_STATE_DIR`` overrides), one folder per warehouse.
    """

    supports_selection: ClassVar[bool] = True
    #: models may stamp the run id; :meth:`stamped` says which do, from the project's SQL
    stamps_run_id: ClassVar[bool] = True
    #: the columns dbt snapshots add (business columns named dbt_* count as data)
    metadata_columns: ClassVar[tuple[str, ...]] = (
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
        "dbt_is_deleted",
        "*__dbt_tmp*",
    )

    def __init__(
        self,
        project_dir: str | Path,
        *,
        name: str = "dbt",
        schema: str = "analytics",
        source_schema: str | None = None,
        threads: int = 4,
        vars: Mapping[str, Any] | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        self.project_dir = Path(project_dir).expanduser().absolute()
        project_file = self.project_dir / "dbt_project.yml"
        if not project_file.is_file():
            raise ConfigError(
                f"The dbt project directory {self.project_dir} has no dbt_project.yml."
            )
        import yaml  # cheap; dbt's own dependency

        try:
            spec = yaml.safe_load(project_file.read_text()) or {}
        except (yaml.YAMLError, OSError) as exc:
            raise ConfigError(f"Cannot read {project_file}: {exc}".rstrip(".") + ".") from None
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ConfigError(f"{project_file} does not name the project (the 'name' key).")
        self.project_name: str = str(spec["name"])
        self.profile_name: str = str(spec.get("profile") or self.project_name)
        self.name = name
        self.schema = schema
        self.source_schema = source_schema
        self.threads = threads
        self.vars: dict[str, Any] = dict(vars or {})
        for reserved in (SOURCE_SCHEMA_VAR, RUN_ID_VAR):
            if reserved in self.vars:
                raise ConfigError(f"The dbt var {reserved!r} is set by stacks; do not pass it.")
        self._state_root = Path(state_dir).expanduser().absolute() if state_dir else None
        #: how the last run got its manifest: "memory", "skipped" (partial parse found no
        #: change), "partial", "full"
        self.last_parse: str | None = None
        self._declared: tuple[tuple[TableRef, ...], tuple[TableRef, ...]] | None = None

    def __repr__(self) -> str:
        return f"DbtTransform({str(self.project_dir)!r}, name={self.name!r})"

    # --- layout -------------------------------------------------------------------------------

    def _source_schema(self, warehouse: Warehouse | None) -> str:
        if self.source_schema:
            return self.source_schema
        return warehouse.schema_name if warehouse is not None else DEFAULT_SCHEMA

    def _parse_vars(self, warehouse: Warehouse | None) -> dict[str, Any]:
        return {**self.vars, SOURCE_SCHEMA_VAR: self._source_schema(warehouse)}

    def state_dir(self, warehouse: Warehouse) -> Path:
        """The folder holding this (project, warehouse)'s profile, target/ and logs/."""
        root = self._state_root or _default_state_root(warehouse)
        parts: list[Any] = [str(self.project_dir), warehouse.redacted_url(), self.schema]
        if self.vars:  # other parse vars, other partial-parse state: keep them apart
            parts.append(self.vars)
        ident = json.dumps(parts, sort_keys=True, default=str)
        key = hashlib.sha1(ident.encode()).hexdigest()[:10]
        return root / f"{self.project_name}-{key}"

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """dbt's profile, target/ (partial-parse state) and logs/ for ``warehouse``."""
        return (self.state_dir(warehouse),)

    def invocation(self, warehouse: Warehouse, request: RunRequest) -> DbtInvocation:
        """Render the profile (no secret on disk) and describe the dbt call for ``request``."""
        # marked used; other warehouses' folders unused for weeks are pruned (contract's bound)
        state = use_state_dir(self.state_dir(warehouse), prune="*-" + "?" * 10)
        text = render_profile(
            warehouse, profile=self.profile_name, schema=self.schema, threads=self.threads
        )
        write_profile(state / "profiles", text)
        return DbtInvocation(
            project_dir=self.project_dir,
            profiles_dir=state / "profiles",
            target=TARGET,
            env=profile_env(warehouse),
            # the request's vars (`stacks run --vars`) override the instance's; the source schema
            # and the run id are the stack's own
            vars={
                **self._parse_vars(warehouse),
                **request.vars,
                SOURCE_SCHEMA_VAR: self._source_schema(warehouse),
                RUN_ID_VAR: request.run_id,
            },
            target_path=state / "target",
            profile=self.profile_name,
            log_path=state / "logs",
        )

    # --- dbt calls ----------------------------------------------------------------------------

    def _invoke(
        self,
        inv: DbtInvocation,
        command: str,
        vars: Mapping[str, Any],
        extra: Sequence[str] = (),
        manifest: Manifest | None = None,
        callbacks: Sequence[Callable[[Any], None]] = (),
    ) -> Any:
        from dbt.cli.main import dbtRunner

        args = [
            command,
            "--project-dir",
            str(inv.project_dir),
            "--profiles-dir",
            str(inv.profiles_dir),
            "--profile",
            inv.profile,
            "--target",
            inv.target,
            "--target-path",
            str(inv.target_path),
            "--log-path",
            str(inv.log_path),
            "--vars",
            json.dumps(dict(vars), sort_keys=True),
            # the console stays quiet; events reach the reporter, the file log keeps detail
            "--log-level",
            "none",
            "--no-use-colors",
            *extra,
        ]
        with _DBT_LOCK, _environ(inv.env):
            try:
                return dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(args)
            finally:
                _release_duckdb()

    def _fail(self, exc: BaseException, warehouse: Warehouse | None, what: str) -> StacksError:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            # dbtRunner catches BaseException; an interrupt must still stop the caller
            raise exc
        kinds = {cls.__name__ for cls in type(exc).__mro__}  # YamlLoadError is a ParsingError
        if kinds & _CONFIG_ERRORS:
            # dbt's own lines kept (a YAML error points at its file, line and column)
            lines = [ln.rstrip() for ln in str(exc).strip().splitlines() if ln.strip()]
            msg = "\n  ".join(ln for ln in lines if not ln.lower().lstrip().startswith("compiled"))
            msg = redact(msg, warehouse) if warehouse is not None else msg
            return ConfigError(f"The dbt project {self.project_dir} cannot be {what}: {msg}")
        msg = clean_message(str(exc)) or type(exc).__name__
        if warehouse is not None:
            msg = redact(msg, warehouse)
        if "FailedToConnectError" in kinds and warehouse is not None:
            return WarehouseUnreachable(
                f"dbt cannot connect to the warehouse {warehouse.redacted_url()}: {msg}"
            )
        from stacks_core.retry import is_transient

        # a connection lost or the warehouse restarting: orchestrators retry it
        kind = TransientError if is_transient(exc) else StepFailed
        return kind(self.name, f"dbt {_VERB.get(what, what)} failed: {msg}")

    def _manifest(
        self, warehouse: Warehouse, inv: DbtInvocation, report: Reporter = silent
    ) -> Manifest:
        """The parsed manifest for ``warehouse``: from memory when the project, profile and
        parse vars are unchanged; else a dbt ``parse`` (partial when dbt's saved state allows)."""
        key = str(self.state_dir(warehouse))
        parse_vars = json.dumps(self._parse_vars(warehouse), sort_keys=True)
        profile_text = (inv.profiles_dir / "profiles.yml").read_text()
        signature = hashlib.sha1(
            "\0".join([_project_signature(self.project_dir), profile_text, parse_vars]).encode()
        ).hexdigest()
        cached = _MANIFESTS.get(key)
        if cached is not None and cached.signature == signature:
            _MANIFESTS.move_to_end(key)
            self.last_parse = "memory"
            return cached.manifest
        events: list[str] = []

        def listen(msg: Any) -> None:
            with contextlib.suppress(Exception):
                events.append(msg.info.name)

        had_state = (inv.target_path / "partial_parse.msgpack").exists()
        report(self.name, "parsing the dbt project")
        res = self._invoke(inv, "parse", json.loads(parse_vars), callbacks=[listen])
        if not res.success or res.result is None:
            raise self._fail(res.exception or RuntimeError("dbt parse failed"), warehouse, "parsed")
        if "PartialParsingSkipParsing" in events:
            self.last_parse = "skipped"
        elif had_state and "UnableToPartialParse" not in events:
            self.last_parse = "partial"
        else:
            self.last_parse = "full"
        _MANIFESTS[key] = _Parsed(signature, res.result, self.project_dir, parse_vars, self.schema)
        _MANIFESTS.move_to_end(key)
        while len(_MANIFESTS) > _MAX_MANIFESTS:
            _MANIFESTS.popitem(last=False)
        return res.result

    def parsed(self, warehouse: Warehouse, report: Reporter = silent) -> Manifest:
        """The parsed dbt manifest for ``warehouse`` (from memory when nothing changed, else a
        dbt ``parse``, partial where dbt's saved state allows): what an orchestrator running dbt
        in this process hands to ``dbtRunner(manifest=...)`` so that dbt parses nothing."""
        inv = self.invocation(warehouse, RunRequest(stack=self.name))
        return self._manifest(warehouse, inv, report)

    def manifest_path(self, warehouse: Warehouse) -> Path:
        """A parsed ``manifest.json`` for ``warehouse`` (parses if needed)."""
        inv = self.invocation(warehouse, RunRequest(stack=self.name))
        self._manifest(warehouse, inv)
        path = inv.target_path / "manifest.json"
        if not path.exists():  # parsed in memory by another instance, file since removed
            _MANIFESTS.pop(str(self.state_dir(warehouse)), None)
            self._manifest(warehouse, inv)
        return path

    result_from_run_results = staticmethod(result_from_run_results)

    # --- the manifest as the table manifest ---------------------------------------------------

    def _declaration_manifest(self) -> Manifest:
        parse_vars = json.dumps(self._parse_vars(None), sort_keys=True)
        for parsed in _MANIFESTS.values():
            # node schemas and source tables do not depend on which warehouse was parsed for
            if (
                parsed.project_dir == self.project_dir
                and parsed.parse_vars == parse_vars
                and parsed.schema == self.schema
            ):
                return parsed.manifest
        # nothing parsed yet: parse against a DuckDB profile that is never connected to
        root = self._state_root or _shared_state_root()
        wh = DuckDBWarehouse(
            path=root / "declare" / "never-opened.duckdb", schema=self._source_schema(None)
        )
        transform = DbtTransform(
            self.project_dir,
            name=self.name,
            schema=self.schema,
            source_schema=self.source_schema,
            threads=1,
            vars=self.vars,
            state_dir=root / "declare",
        )
        inv = transform.invocation(wh, RunRequest(stack=self.name))
        return transform._manifest(wh, inv)

    def _declare(self) -> tuple[tuple[TableRef, ...], tuple[TableRef, ...]]:
        if self._declared is None:
            m = self._declaration_manifest()
            produced = sorted(
                {
                    TableRef(schema=n.schema, name=n.alias or n.name)
                    for n in m.nodes.values()
                    if str(n.resource_type) in BUILT_TYPES
                    and getattr(n.config, "materialized", None) != "ephemeral"
                },
                key=lambda t: t.key,
            )
            consumed = sorted(
                {TableRef(schema=s.schema, name=s.identifier) for s in m.sources.values()}
                - set(produced),
                key=lambda t: t.key,
            )
            self._declared = (tuple(consumed), tuple(produced))
        return self._declared

    def consumes(self) -> tuple[TableRef, ...]:
        """Every source the project declares (schema from ``source_schema``, default ``raw``)."""
        return self._declare()[0]

    def nodes(self) -> tuple[TransformNode, ...]:
        """Every model, seed and snapshot with its parents (nodes, or sources as tables) and
        tags, from the parsed manifest: what ``--select`` walks in the contract."""
        m = self._declaration_manifest()
        by_id = {
            uid: n
            for uid, n in m.nodes.items()
            if str(n.resource_type) in BUILT_TYPES
            and getattr(n.config, "materialized", None) != "ephemeral"
        }
        out = []
        for n in by_id.values():
            deps = []
            for parent in _parents(n):
                if parent in by_id:
                    deps.append(by_id[parent].name)
                elif parent in m.sources:
                    src = m.sources[parent]
                    deps.append(f"{src.schema}.{src.identifier}")
            out.append(
                TransformNode(
                    name=n.name,
                    table=TableRef(schema=n.schema, name=n.alias or n.name),
                    depends_on=tuple(sorted(set(deps))),
                    tags=tuple(sorted(n.tags)),
                )
            )
        return tuple(sorted(out, key=lambda x: x.name))

    def stamped(self) -> tuple[TableRef, ...]:
        """The models whose SQL uses the ``stacks_run_id`` var (so their rows carry it)."""
        m = self._declaration_manifest()
        return tuple(
            sorted(
                (
                    TableRef(schema=n.schema, name=n.alias or n.name)
                    for n in m.nodes.values()
                    if str(n.resource_type) in BUILT_TYPES
                    and RUN_ID_VAR in (getattr(n, "raw_code", "") or "")
                    and getattr(n.config, "materialized", None) != "ephemeral"
                ),
                key=lambda t: t.key,
            )
        )

    def incremental(self) -> tuple[TableRef, ...]:
        """The models materialized ``incremental`` (what ``stacks check`` must see take their
        incremental path with new data before it calls a rebuild proved)."""
        m = self._declaration_manifest()
        return tuple(
            sorted(
                (
                    TableRef(schema=n.schema, name=n.alias or n.name)
                    for n in m.nodes.values()
                    if getattr(n.config, "materialized", None) == "incremental"
                ),
                key=lambda t: t.key,
            )
        )

    def produces(self) -> tuple[TableRef, ...]:
        """Every model, seed and snapshot that is not ephemeral (views included)."""
        return self._declare()[1]

    # --- running ------------------------------------------------------------------------------

    def _selectors(self, manifest: Manifest, select: Sequence[str]) -> list[str]:
        """Exact node names (the contract resolved the user's selectors already)."""
        names = {n.name for n in manifest.nodes.values() if str(n.resource_type) in BUILT_TYPES}
        unknown = [s for s in select if s not in names]
        if unknown:
            raise ConfigError(
                f"The dbt project {self.project_name!r} has no model named "
                f"{', '.join(map(repr, unknown))}."
            )
        return list(select)

    def _needed_sources(self, manifest: Manifest, select: Sequence[str]) -> set[str] | None:
        """Unique ids of the sources the run will read; ``None`` when selectors are too rich
        to resolve here (dbt then reports a missing table itself)."""
        nodes = manifest.nodes
        if not select:
            run = set(nodes)
        else:
            wanted = set(select)
            run = {uid for uid, n in nodes.items() if n.name in wanted}
            # a model's tests read the model's parents too
            run |= {
                uid
                for uid, n in nodes.items()
                if str(n.resource_type) == "test" and set(_parents(n)) & run
            }
        return {p for uid in run for p in _parents(nodes[uid]) if p.startswith("source.")}

    def _check_sources(
        self, warehouse: Warehouse, manifest: Manifest, select: Sequence[str]
    ) -> None:
        needed = self._needed_sources(manifest, select)
        if not needed:
            return
        from stacks_core.sql import connect

        with connect(warehouse) as conn:
            present = {(s.lower(), t.lower()) for s, t in conn.tables()}
        missing = sorted(
            f"{src.schema}.{src.identifier}"
            for uid in needed
            if (src := manifest.sources[uid])
            and (src.schema.lower(), src.identifier.lower()) not in present
        )
        if missing:
            verb = "does" if len(missing) == 1 else "do"
            raise StepFailed(
                self.name,
                f"the dbt project reads {', '.join(missing)}, which {verb} not exist in the "
                f"warehouse {warehouse.redacted_url()} (run the EL step that loads it first).",
            )

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> TransformResult:
        """``dbt build`` (models, seeds, snapshots and their tests in DAG order)."""
        if not isinstance(warehouse, PostgresWarehouse | DuckDBWarehouse):
            raise ConfigError(
                f"stacks-transform-dbt cannot run against a {warehouse.kind} warehouse yet."
            )
        started_at: datetime = utcnow()
        inv = self.invocation(warehouse, request)
        manifest = self._manifest(warehouse, inv, report)
        extra: list[str] = []
        if request.select:
            extra += ["--select", *self._selectors(manifest, request.select)]
        if request.full_refresh:
            extra.append("--full-refresh")
        self._check_sources(warehouse, manifest, request.select)

        def progress(msg: Any) -> None:
            with contextlib.suppress(Exception):
                if msg.info.name == "NodeFinished":
                    ni = msg.data.node_info
                    report(self.name, f"{ni.resource_type} {ni.node_name}: {ni.node_status}")

        run_results = inv.target_path / "run_results.json"
        # a stale file from an earlier run must never be read as this run's outcome
        run_results.unlink(missing_ok=True)
        # --no-write-json: dbt would re-serialise the whole manifest after every build (most of
        # a small run's time); run_results.json is written below from the in-memory result.
        res = self._invoke(
            inv,
            "build",
            inv.vars,
            [*extra, "--no-write-json"],
            manifest=manifest,
            callbacks=[progress],
        )
        executed = res.result if hasattr(res.result, "results") else None
        if executed is None:
            raise self._fail(
                res.exception or RuntimeError("dbt returned no results"), warehouse, "built"
            )
        with contextlib.suppress(Exception):  # the file is for people and tools, not for us
            executed.write(str(run_results))
        from dbt.artifacts.schemas.run import RunResultsArtifact

        artifact = RunResultsArtifact.from_execution_results(
            results=executed.results,
            elapsed_time=executed.elapsed_time,
            generated_at=executed.generated_at,
            args=executed.args,
        ).to_dict(omit_none=False)
        result = translate(artifact, _node_index(manifest), request, started_at)
        failed = [m for m in result.models if m.status is NodeStatus.ERROR]
        if failed:
            skipped = sum(1 for m in result.models if m.status is NodeStatus.SKIPPED)
            detail = "; ".join(
                f"model {m.name} failed: {redact(m.message or 'no message', warehouse)}"
                for m in failed
            )
            if skipped:
                detail += f" ({skipped} downstream model{'s' if skipped > 1 else ''} skipped)"
            from stacks_core.retry import transient_message

            lost = all(transient_message(m.message or "") for m in failed)
            raise DbtStepFailed(self.name, detail, result, transient=lost)
        errored = [t for t in result.tests if t.status is NodeStatus.ERROR]
        if errored and not result.count(NodeStatus.FAIL):
            from stacks_core.retry import transient_message

            if all(transient_message(t.message or "") for t in errored):
                # tests that could not run because the connection went (a restart): not a
                # verdict on the data, so the build is retried like a model that lost it
                detail = "; ".join(
                    f"test {t.name} could not run: {redact(t.message or 'no message', warehouse)}"
                    for t in errored
                )
                raise DbtStepFailed(self.name, detail, result, transient=True)
        if res.exception is not None and not result.models and not result.tests:
            raise self._fail(res.exception, warehouse, "built")
        return result
