"""The contract's :class:`~stacks_contract.ports.Transform` over dbt-core, run in-process.

One dbt project, any warehouse: the profile is rendered from the warehouse (secrets through the
environment only) unless the user brings their own, sources read the schema the EL steps wrote
(the ``stacks_source_schema`` var), every run passes its run id as the ``stacks_run_id`` var, and
the project's packages are installed into the state folder, never into the project.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stacks_contract.errors import ConfigError, StacksError
from stacks_contract.models import (
    RunRequest,
    TableRef,
    TransformNode,
    TransformResult,
    Window,
    utcnow,
)
from stacks_contract.ports import Reporter, Transform, silent
from stacks_contract.warehouse import (
    DEFAULT_SCHEMA,
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
)
from stacks_core.state import use_state_dir

from stacks_transform_dbt import declaration, graph, packages, workspace
from stacks_transform_dbt import manifest as manifests
from stacks_transform_dbt.build import RUN_ID_VAR, build, check_sources
from stacks_transform_dbt.errors import dbt_failure
from stacks_transform_dbt.invocation import (
    DbtInvocation,
    default_state_root,
    invoke,
    shared_state_root,
)
from stacks_transform_dbt.profiles import ProfileChoice, choose_profile
from stacks_transform_dbt.results import result_from_run_results
from stacks_transform_dbt.selectors import dbt_ls

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

#: var naming the schema the project's sources live in (use it in sources.yml)
SOURCE_SCHEMA_VAR = "stacks_source_schema"
#: vars carrying the run's window (``RunRequest.window``, ISO times, UTC), when it has one
WINDOW_START_VAR, WINDOW_END_VAR = "stacks_window_start", "stacks_window_end"


def window_vars(window: Window | None) -> dict[str, str]:
    """``stacks_window_start`` / ``stacks_window_end`` of a run over ``window`` (none: {})."""
    if window is None:
        return {}
    return {WINDOW_START_VAR: window.start.isoformat(), WINDOW_END_VAR: window.end.isoformat()}


class DbtTransform(Transform):
    """A dbt project as a stacks transform.

    ``schema`` is the target schema models build into (dbt's custom schemas append to it);
    ``source_schema`` the schema sources read (default: the warehouse's raw schema; ``raw`` for
    :meth:`consumes`, which knows no warehouse). ``vars`` are extra dbt vars, fixed per instance.
    ``state_dir`` holds the generated profile, ``target/``, ``logs/`` and installed packages
    (default: beside a DuckDB file, else the temp dir; ``$STACKS_DBT_STATE_DIR`` overrides), one
    folder per warehouse. ``profiles_dir`` / ``profile`` / ``target`` use a ``profiles.yml`` of
    the user's (else ``DBT_PROFILES_DIR``, ``DBT_PROFILE``, ``DBT_TARGET``; without any, a profile
    is rendered from the warehouse, its one target named ``target`` or ``stacks``); its target
    must write to the stack's warehouse. ``threads``: dbt's ``--threads`` (else
    ``STACKS_DBT_THREADS``, else the profile's; 4 in a rendered one).
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
        threads: int | None = None,
        vars: Mapping[str, Any] | None = None,
        state_dir: str | Path | None = None,
        profiles_dir: str | Path | None = None,
        profile: str | None = None,
        target: str | None = None,
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
        self._install_path = str(spec.get("packages-install-path") or packages.DEFAULT_INSTALL_PATH)
        self.name = name
        self.schema = schema
        self.source_schema = source_schema
        self.threads = threads
        self.vars: dict[str, Any] = dict(vars or {})
        for reserved in (SOURCE_SCHEMA_VAR, RUN_ID_VAR):
            if reserved in self.vars:
                raise ConfigError(f"The dbt var {reserved!r} is set by stacks; do not pass it.")
        self._state_root = Path(state_dir).expanduser().absolute() if state_dir else None
        self._profile_args = (profiles_dir, profile, target)
        choose_profile(  # a missing profiles.yml is a ConfigError now, not at the first run
            profiles_dir=profiles_dir,
            profile=profile,
            target=target,
            threads=threads,
            project_profile=self.profile_name,
        )
        #: how the last run got its manifest: "memory", "skipped" (partial parse found no
        #: change), "partial", "full"
        self.last_parse: str | None = None
        self._declaring = False  # parsing for consumes()/produces(): no warehouse to match
        self._declared: dict[str, tuple[str, declaration.Declaration]] = {}
        self._declaring_inv: dict[str, tuple[DbtTransform, Warehouse, DbtInvocation]] = {}

    def __repr__(self) -> str:
        return f"DbtTransform({str(self.project_dir)!r}, name={self.name!r})"

    # --- layout -------------------------------------------------------------------------------

    def profile_choice(self) -> ProfileChoice:
        """The profile, target and threads a run uses now (arguments, else the environment)."""
        profiles_dir, profile, target = self._profile_args
        return choose_profile(
            profiles_dir=profiles_dir,
            profile=profile,
            target=target,
            threads=self.threads,
            project_profile=self.profile_name,
        )

    def _source_schema(self, warehouse: Warehouse | None) -> str:
        if self.source_schema:
            return self.source_schema
        return warehouse.schema_name if warehouse is not None else DEFAULT_SCHEMA

    def _parse_vars(self, warehouse: Warehouse | None) -> dict[str, Any]:
        return {**self.vars, SOURCE_SCHEMA_VAR: self._source_schema(warehouse)}

    def _layout(self) -> str:
        """What decides node schemas besides the project: the schema and the profile chosen."""
        c = self.profile_choice()
        return json.dumps([self.schema, str(c.profiles_dir or ""), c.profile, c.target or ""])

    def state_dir(self, warehouse: Warehouse) -> Path:
        """The folder holding this (project, warehouse)'s profile, target/, logs/ and packages."""
        root = self._state_root or default_state_root(warehouse)
        parts: list[Any] = [str(self.project_dir), warehouse.redacted_url(), self.schema]
        if self.vars:  # other parse vars, other partial-parse state: keep them apart
            parts.append(self.vars)
        choice = self.profile_choice()
        if choice.is_users or choice.target:  # another target, other partial-parse state
            parts.append([str(choice.profiles_dir or ""), choice.profile, choice.target or ""])
        ident = json.dumps(parts, sort_keys=True, default=str)
        key = hashlib.sha1(ident.encode()).hexdigest()[:10]
        return root / f"{self.project_name}-{key}"

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """dbt's profile, target/ (partial-parse state), logs/ and packages for ``warehouse``."""
        return (self.state_dir(warehouse),)

    def invocation(self, warehouse: Warehouse, request: RunRequest) -> DbtInvocation:
        """Install the project's packages if needed, render the profile (no secret on disk) or
        check the user's, and describe the dbt call for ``request``."""
        # marked used; other warehouses' folders unused for weeks are pruned (contract's bound)
        state = use_state_dir(self.state_dir(warehouse), prune="*-" + "?" * 10)
        choice = self.profile_choice()
        parse_vars = self._parse_vars(warehouse)
        view = workspace.project_view(self.project_dir, state, self._install_path, parse_vars)
        profiles_dir, target, env = workspace.profile(
            choice,
            warehouse,
            state,
            view,
            parse_vars,
            schema=self.schema,
            check=not self._declaring,
        )
        dbt_state, defer = workspace.state_and_defer(self.project_dir)
        return DbtInvocation(
            project_dir=view,
            profiles_dir=profiles_dir,
            target=target,
            env=env,
            # the request's vars (`stacks run --vars`) override the instance's; the source schema
            # and the run id are the stack's own
            vars={
                **parse_vars,
                **request.vars,
                SOURCE_SCHEMA_VAR: self._source_schema(warehouse),
                RUN_ID_VAR: request.run_id,
                **window_vars(request.window),
            },
            target_path=state / "target",
            profile=choice.profile,
            log_path=state / "logs",
            threads=choice.threads,
            state=dbt_state,
            defer=defer,
        )

    # --- the parsed manifest ------------------------------------------------------------------

    def _fail(self, exc: BaseException, warehouse: Warehouse | None, what: str) -> StacksError:
        return dbt_failure(exc, self.name, self.project_dir, warehouse, what)

    def _parse(
        self, warehouse: Warehouse, inv: DbtInvocation, report: Reporter = silent
    ) -> manifests.Parsed:
        """The parsed manifest for ``warehouse``: from memory when the project, profile and
        parse vars are unchanged; else a dbt ``parse`` (partial when dbt's saved state allows)."""
        stamp = inv.target_path.parent / "deps.stamp"
        parsed, self.last_parse = manifests.load(
            str(self.state_dir(warehouse)),
            inv,
            source_dirs=[self.project_dir, *self._local_packages()],
            parse_vars=self._parse_vars(warehouse),
            layout=self._layout(),
            fail=lambda exc: self._fail(exc, warehouse, "parsed"),
            step=self.name,
            report=report,
            identity=stamp.read_text() if stamp.exists() else "",
        )
        return parsed

    def _local_packages(self) -> list[Path]:
        out = []
        for e in packages.declared(self.project_dir):
            local = e.get("local")
            if isinstance(local, str) and "{{" not in local:
                out.append((self.project_dir / local).resolve())
        return [p for p in out if p.is_dir()]

    def _manifest(
        self, warehouse: Warehouse, inv: DbtInvocation, report: Reporter = silent
    ) -> Manifest:
        return self._parse(warehouse, inv, report).manifest

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

    def _declaration(self) -> tuple[Manifest, DbtInvocation]:
        """The manifest parsed without a warehouse (against a DuckDB profile that is never
        connected to, or the user's profile), and how dbt was called for it."""
        layout = self._layout()
        if layout not in self._declaring_inv:
            root = self._state_root or shared_state_root()
            wh: Warehouse = DuckDBWarehouse(
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
            transform._profile_args = self._profile_args
            transform._declaring = True
            inv = transform.invocation(wh, RunRequest(stack=self.name))
            self._declaring_inv[layout] = (transform, wh, inv)
        transform, wh, inv = self._declaring_inv[layout]
        hit = manifests.cached(self.project_dir, self._parse_vars(None), layout)
        if hit is not None:
            return hit.manifest, inv
        return transform._manifest(wh, inv), inv

    def _declare(self) -> declaration.Declaration:
        """The table manifest: from this object, else from disk while the project, vars, layout
        (schema, profile, target) and dbt are unchanged (no dbt import: `stacks plan` stays
        fast), else from a parse."""
        layout = self._layout()
        folder = (self._state_root or shared_state_root()) / "declare"
        profiles = self.profile_choice().profiles_dir
        users = (Path(profiles) / "profiles.yml") if profiles else None
        # a team's profiles.yml decides schemas too: its text is part of the key
        text = users.read_text() if users is not None and users.is_file() else ""
        key = declaration.key(self.project_dir, self._parse_vars(None), layout + text)
        held = self._declared.get(layout)
        if held is None or held[0] != key:
            found = declaration.read(folder, self.project_dir, key)
            if found is None:
                found = declaration.Declaration.of(self._declaration()[0], RUN_ID_VAR)
                declaration.write(folder, self.project_dir, key, found)
            held = self._declared[layout] = (key, found)
        return held[1]

    def consumes(self) -> tuple[TableRef, ...]:
        """Every source the project declares (schema from ``source_schema``, default ``raw``)."""
        return self._declare().consumes

    def produces(self) -> tuple[TableRef, ...]:
        """Every model, seed and snapshot that is not ephemeral (views included)."""
        return self._declare().produces

    def nodes(self) -> tuple[TransformNode, ...]:
        """Every model, seed and snapshot with its parents (nodes, or sources as tables) and
        tags, from the parsed manifest: what ``--select`` walks in the contract."""
        return self._declare().nodes

    def stamped(self) -> tuple[TableRef, ...]:
        """The models whose SQL uses the ``stacks_run_id`` var (so their rows carry it)."""
        return self._declare().stamped

    def history_keeping(self) -> tuple[TableRef, ...]:
        """Snapshots, models whose ``meta`` sets ``history_keeping: true``, and what is built
        from either: tables no rebuild from today's source can reproduce."""
        return self._declare().history_keeping

    def resolve_selector(
        self, selector: str, warehouse: Warehouse | None = None
    ) -> tuple[str, ...]:
        """dbt's own selector syntax, resolved by ``dbt ls`` (``--state`` from ``DBT_STATE``)
        against the manifest parsed for ``warehouse``: ``state:modified`` compares sources'
        rendered database and schema, which a manifest parsed for no warehouse cannot match."""
        if warehouse is None:
            m, inv = self._declaration()
        else:
            self._supported(warehouse)
            inv = self.invocation(warehouse, RunRequest(stack=self.name))
            m = self._manifest(warehouse, inv)
        vars = self._parse_vars(warehouse)
        return dbt_ls(inv, m, vars, selector, fail=lambda e: self._fail(e, warehouse, "listed"))

    def incremental(self) -> tuple[TableRef, ...]:
        """The models materialized ``incremental`` (``stacks check`` proves them only once new
        data took their incremental path)."""
        return self._declare().incremental

    # --- running ------------------------------------------------------------------------------

    def _supported(self, warehouse: Warehouse) -> None:
        if not isinstance(warehouse, PostgresWarehouse | DuckDBWarehouse):
            raise ConfigError(
                f"stacks-transform-dbt cannot run against a {warehouse.kind} warehouse yet."
            )

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> TransformResult:
        """``dbt build`` (models, seeds, snapshots and their tests in DAG order)."""
        self._supported(warehouse)
        started_at = utcnow()
        inv = self.invocation(warehouse, request)
        parsed = self._parse(warehouse, inv, report)
        manifest = parsed.manifest
        select = graph.known_names(manifest, self.project_name, request.select)
        raw = {self._source_schema(warehouse).lower()}
        for seed in graph.seeds_in(manifest, raw):
            report(self.name, f"warning: the seed {seed} lands in the schema the EL steps load")
        check_sources(self.name, warehouse, manifest, request.select)
        try:
            return build(
                inv,
                manifest,
                request,
                warehouse,
                step=self.name,
                select=select,
                report=report,
                fail=lambda exc: self._fail(exc, warehouse, "built"),
                started_at=started_at,
                deprecations=parsed.deprecations,
            )
        finally:
            if inv.defer:  # dbt wrote the deferred relations into the in-memory manifest
                manifests.forget(str(self.state_dir(warehouse)))

    def docs(self, warehouse: Warehouse, report: Reporter = silent) -> Path:
        """``dbt docs generate --static`` for ``warehouse``: one HTML file (the catalog read
        from the warehouse) a browser opens from disk. Returns its path."""
        self._supported(warehouse)
        inv = self.invocation(warehouse, RunRequest(stack=self.name))
        manifest = self._manifest(warehouse, inv, report)
        report(self.name, "dbt docs generate")
        res = invoke(inv, "docs generate", inv.vars, ["--static"], manifest=manifest)
        if not res.success:
            raise self._fail(res.exception or RuntimeError("dbt docs failed"), warehouse, "run")
        return inv.target_path / "static_index.html"
