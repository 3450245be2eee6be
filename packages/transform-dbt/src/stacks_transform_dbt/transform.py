"""The contract's :class:`~stacks_contract.ports.Transform` over dbt-core, run in-process.

One dbt project, any warehouse: the profile is rendered from the warehouse (secrets through the
environment only), sources read the schema the EL steps wrote (the ``stacks_source_schema``
var), and every run passes its run id as the ``stacks_run_id`` var.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stacks_contract.errors import ConfigError, StacksError, StepFailed
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
from stacks_core.state import use_state_dir

from stacks_transform_dbt import graph, retry
from stacks_transform_dbt import manifest as manifests
from stacks_transform_dbt.errors import DbtStepFailed, dbt_failure
from stacks_transform_dbt.invocation import (
    DbtInvocation,
    default_state_root,
    invoke,
    shared_state_root,
)
from stacks_transform_dbt.profiles import TARGET, profile_env, render_profile, write_profile
from stacks_transform_dbt.results import result_from_run_results, translate

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

#: var naming the schema the project's sources live in (use it in sources.yml)
SOURCE_SCHEMA_VAR = "stacks_source_schema"
#: var carrying the run id (models stamp it into ``_stacks_run_id``)
RUN_ID_VAR = "stacks_run_id"


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
        root = self._state_root or default_state_root(warehouse)
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

    # --- the parsed manifest ------------------------------------------------------------------

    def _fail(self, exc: BaseException, warehouse: Warehouse | None, what: str) -> StacksError:
        return dbt_failure(exc, self.name, self.project_dir, warehouse, what)

    def _manifest(
        self, warehouse: Warehouse, inv: DbtInvocation, report: Reporter = silent
    ) -> Manifest:
        """The parsed manifest for ``warehouse``: from memory when the project, profile and
        parse vars are unchanged; else a dbt ``parse`` (partial when dbt's saved state allows)."""
        m, self.last_parse = manifests.load(
            str(self.state_dir(warehouse)),
            inv,
            source_dir=self.project_dir,
            parse_vars=self._parse_vars(warehouse),
            schema=self.schema,
            fail=lambda exc: self._fail(exc, warehouse, "parsed"),
            step=self.name,
            report=report,
        )
        return m

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
            manifests.forget(str(self.state_dir(warehouse)))
            self._manifest(warehouse, inv)
        return path

    result_from_run_results = staticmethod(result_from_run_results)

    # --- the manifest as the table manifest ---------------------------------------------------

    def _declaration_manifest(self) -> Manifest:
        hit = manifests.cached(self.project_dir, self._parse_vars(None), self.schema)
        if hit is not None:
            return hit
        # nothing parsed yet: parse against a DuckDB profile that is never connected to
        root = self._state_root or shared_state_root()
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
            self._declared = graph.declare(self._declaration_manifest())
        return self._declared

    def consumes(self) -> tuple[TableRef, ...]:
        """Every source the project declares (schema from ``source_schema``, default ``raw``)."""
        return self._declare()[0]

    def produces(self) -> tuple[TableRef, ...]:
        """Every model, seed and snapshot that is not ephemeral (views included)."""
        return self._declare()[1]

    def nodes(self) -> tuple[TransformNode, ...]:
        """Every model, seed and snapshot with its parents (nodes, or sources as tables) and
        tags, from the parsed manifest: what ``--select`` walks in the contract."""
        return graph.transform_nodes(self._declaration_manifest())

    def stamped(self) -> tuple[TableRef, ...]:
        """The models whose SQL uses the ``stacks_run_id`` var (so their rows carry it)."""
        return graph.stamped(self._declaration_manifest(), RUN_ID_VAR)

    # --- running ------------------------------------------------------------------------------

    def _check_sources(
        self, warehouse: Warehouse, manifest: Manifest, select: Sequence[str]
    ) -> None:
        needed = graph.needed_sources(manifest, select)
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
            extra += ["--select", *graph.known_names(manifest, self.project_name, request.select)]
        if request.full_refresh:
            extra.append("--full-refresh")
        self._check_sources(warehouse, manifest, request.select)

        def progress(msg: Any) -> None:
            with contextlib.suppress(Exception):
                if msg.info.name == "NodeFinished":
                    ni = msg.data.node_info
                    report(self.name, f"{ni.resource_type} {ni.node_name}: {ni.node_status}")

        run_results = inv.target_path / "run_results.json"
        # this run tried again: `dbt retry` runs only what failed or was skipped (see .retry)
        previous = retry.previous_attempt(run_results, request, RUN_ID_VAR)
        if previous is None:
            # a stale file from an earlier run must never be read as this run's outcome
            run_results.unlink(missing_ok=True)
        else:
            report(self.name, "retrying the nodes that failed or were skipped (dbt retry)")
        # --no-write-json: dbt would re-serialise the whole manifest after every build (most of
        # a small run's time); run_results.json is written below from the in-memory result.
        res = invoke(
            inv,
            "build" if previous is None else "retry",
            inv.vars,
            [*(extra if previous is None else ()), "--no-write-json"],
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
        result = translate(artifact, graph.node_index(manifest), request, started_at)
        if previous is not None:
            before = translate(previous, graph.node_index(manifest), request, started_at)
            result = retry.merged(before, result)
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
