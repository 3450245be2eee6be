"""``DltStep``: any dlt source, run idempotently into the stack's warehouse."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import ConfigError, StacksError
from stacks_contract.models import LoadResult, RunRequest, TableRef, utcnow
from stacks_contract.ports import CursorState, ELStep, Reporter, silent
from stacks_contract.warehouse import DEFAULT_SCHEMA, Warehouse
from stacks_core.state import use_state_dir

from stacks_el_dlt._config import apply_dlt_defaults
from stacks_el_dlt.building import ident, is_dlt_object, preflight
from stacks_el_dlt.counting import rows_from_load_infos
from stacks_el_dlt.cursor_state import DltCursors
from stacks_el_dlt.destination import default_file_format, dlt_destination, pipelines_dir
from stacks_el_dlt.errors import translate
from stacks_el_dlt.extract_load import extract_then_load
from stacks_el_dlt.names import QUARANTINE_TABLE
from stacks_el_dlt.working import (
    STATE_FOLDERS,
    cursors,
    drop_working_folder,
    pending_or_broken,
    remove_dropped_folders,
    stored_schema,
)

#: a dlt source, a resource, or several resources
SourceFactory = Callable[[], Any]
#: the schema contracts a step takes (dlt's modes for new columns and data types)
SCHEMA_CONTRACTS = ("evolve", "freeze", "discard_value")


class DltStep(DltCursors, ELStep, CursorState):
    """Run a dlt source into the warehouse: one dlt pipeline per (step, warehouse, dataset).

    ``source`` is a factory: a zero-argument callable returning a *fresh* dlt source, resource or
    list of resources on every call (dlt cannot run one source object twice). Loading semantics
    are the resources' own dlt hints (``write_disposition`` merge / append / replace / scd2,
    ``primary_key``, ``dlt.sources.incremental``); this class adds only what stacks needs:

    * the warehouse as a dlt destination, and dlt's working state in a folder per warehouse
      (:func:`~stacks_el_dlt.destination.pipelines_dir`; dlt restores it from the warehouse when
      the folder is missing, and wipes it when the dataset was dropped);
    * ``_stacks_run_id`` / ``_stacks_loaded_at`` on every row, child tables included;
    * quarantine of dict rows that break declared column types (see :mod:`stacks_el_dlt.stamp`);
    * pages of flat dict rows become Arrow tables (``arrow_batches``) when dlt's dict path would
      load them identically: dlt's per-row normalizer is ~10x slower than its Arrow path;
    * load packages left by a killed run are discarded and re-extracted, never resumed
      (see :meth:`dlt_pipeline`);
    * exact row counts per table, errors as one sentence with secrets masked.

    ``tables``: the tables the step writes, when they cannot be read from the resources' hints
    (dynamic table names). Otherwise :meth:`produces` derives them from each resource's table name
    plus its declared ``nested_hints`` (child tables such as ``orders__items``); a nested list
    without a hint still loads, but is not in the manifest.
    """

    incremental: ClassVar[bool] = False
    quarantine: ClassVar[bool] = True
    stamps_run_id: ClassVar[bool] = True
    #: a subclass that reads a window table by table itself (``SqlDatabaseStep``); else every
    #: incremental resource is bounded to the window (:mod:`stacks_el_dlt.window`)
    windows_per_table: ClassVar[bool] = False
    #: dlt's row ids, load ids and child-table links, and its bookkeeping tables
    metadata_columns: ClassVar[tuple[str, ...]] = ("_dlt_*",)

    def __init__(
        self,
        name: str,
        source: SourceFactory,
        *,
        dataset: str | None = DEFAULT_SCHEMA,
        tables: Iterable[str] | None = None,
        pipeline_name: str | None = None,
        pipelines_base_dir: str | Path | None = None,
        file_format: str | None = None,
        quarantine_rows: bool = True,
        arrow_batches: bool = True,
        schema_contract: str = "evolve",
    ) -> None:
        if not callable(source) or is_dlt_object(source):
            raise ConfigError(
                f"Step {name!r}: pass a factory (a callable returning a fresh dlt source), not a "
                "source object: dlt cannot run the same source object twice."
            )
        if schema_contract not in SCHEMA_CONTRACTS:
            raise ConfigError(
                f"Step {name!r}: schema_contract must be one of {', '.join(SCHEMA_CONTRACTS)}, "
                f"not {schema_contract!r}."
            )
        #: what a source's schema change does to the warehouse (see :mod:`stacks_el_dlt.prepare`)
        self.schema_contract = schema_contract
        self.name = name
        self.source_factory = source
        #: ``dataset=None``: the warehouse's schema (``?schema=``), bound by :meth:`dlt_pipeline`
        self.dataset = dataset or DEFAULT_SCHEMA
        self._dataset_from_warehouse = dataset is None
        self._tables = tuple(tables) if tables is not None else None
        #: the tables found by building the source once (see :meth:`table_resources`)
        self._found: dict[TableRef, str] | None = None
        self.pipeline_name = pipeline_name or f"stacks_{ident(name)}"
        self.pipelines_base_dir = pipelines_base_dir
        self.file_format = file_format
        self.quarantine_rows = quarantine_rows
        self.arrow_batches = arrow_batches
        # quarantine counts per run id, filled while dlt extracts (bounded: last 32 runs)
        self._quarantined: OrderedDict[str, Counter[str]] = OrderedDict()
        # per run id: whether it reloads from scratch, the resources' state before it
        self._reloads: OrderedDict[str, Any] = OrderedDict()
        self._before: OrderedDict[str, Any] = OrderedDict()
        self._refused: OrderedDict[str, Any] = OrderedDict()
        #: per run id: values dropped by the discard_value contract, per "table.column"
        self._discarded: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._bound_schema: Any = None
        #: dlt's traces of the last :meth:`run` (extract, then normalize + load), for timings
        self.last_traces: tuple[Any, ...] = ()
        #: extra secrets (e.g. a source database password) masked in every error message
        self.secrets: tuple[str, ...] = ()
        #: where the data comes from, for error messages (a URL without credentials)
        self.source_hint: str | None = None
        #: column type changes the last run followed (see :mod:`stacks_el_dlt.drift`)
        self.drift_lines: list[str] = []

    # --- the manifest ---------------------------------------------------------------------------

    def produces(self) -> tuple[TableRef, ...]:
        return tuple(self.table_resources())

    def table_resources(self) -> dict[TableRef, str]:
        """Every produced table -> the dlt resource writing it (child tables -> their root's).

        Undeclared tables are found by building the dlt source once per step object (building
        a REST API source costs ~0.2 s, and plan, selection and orchestrators all ask)."""
        if self._tables is not None:
            return {TableRef(self.dataset, t): self._resource_for(t) for t in self._tables}
        if self._found is None:
            self._found = self._discover()
        return dict(self._found)

    def _discover(self) -> dict[TableRef, str]:
        source = self._build_source()
        naming = source.schema.naming
        out: dict[TableRef, str] = {}
        for resource in source.selected_resources.values():
            root = resource.table_name
            if callable(root):
                raise ConfigError(
                    f"Step {self.name!r}: resource {resource.name!r} picks its table per item; "
                    "declare the tables it writes with DltStep(..., tables=[...])."
                )
            root_name = naming.normalize_table_identifier(str(root))
            out[TableRef(self.dataset, root_name)] = resource.name
            nested = resource.nested_hints
            if isinstance(nested, dict):
                for path in nested:
                    parts = (path,) if isinstance(path, str) else tuple(path)
                    child = naming.normalize_path(naming.make_path(root_name, *parts))
                    out[TableRef(self.dataset, child)] = resource.name
        return out

    def _resource_for(self, table: str) -> str:
        return table.split("__", 1)[0]

    # --- the dlt objects (also used by orchestrators that run dlt themselves) -------------------

    def dlt_pipeline(self, warehouse: Warehouse, report: Reporter = silent) -> Any:
        """The configured :class:`dlt.Pipeline` :meth:`run` uses, with no pending load packages;
        ``report`` hears dlt's progress (rows per table, jobs; see :mod:`stacks_el_dlt.progress`).

        A killed run can leave a load package half-loaded: a job whose rows were committed but
        not yet marked done is loaded again when dlt resumes the package (duplicate ``_dlt_id``
        in the staging table on Postgres, dlt#3023). So stacks never resumes: when the working
        folder holds pending packages it is wiped, dlt restores state and schemas from the
        warehouse (the last *committed* load), and the next extract re-reads what was not
        committed. Merge on primary keys makes that re-load converge; the SIGKILL tests prove it.

        The wipe itself must survive a SIGKILL: see
        :func:`~stacks_el_dlt.working.drop_working_folder`.
        """
        import dlt

        from stacks_el_dlt.failures import keep_loading_on_failed_jobs

        apply_dlt_defaults()
        keep_loading_on_failed_jobs(self.pipeline_name)
        if self._dataset_from_warehouse and self.dataset != warehouse.schema_name:
            self.dataset, self._found = warehouse.schema_name, None
        workdir = self._workdir(warehouse)
        # marked used; other warehouses' folders unused for weeks are pruned (contract's bound)
        use_state_dir(workdir, prune=STATE_FOLDERS)
        remove_dropped_folders(workdir)
        pipeline = dlt.pipeline(
            pipeline_name=self.pipeline_name,
            destination=dlt_destination(warehouse, self.file_format),
            dataset_name=self.dataset,
            pipelines_dir=str(workdir),
        )
        if pending_or_broken(pipeline):
            pipeline = drop_working_folder(pipeline)
        self._bound_schema = stored_schema(pipeline)
        if report is not silent:
            from stacks_el_dlt.progress import ReporterCollector

            pipeline.collector = ReporterCollector(self.name, report)
        return pipeline

    def _workdir(self, warehouse: Warehouse) -> Path:
        dataset = warehouse.schema_name if self._dataset_from_warehouse else self.dataset
        return pipelines_dir(warehouse.with_schema(dataset), self.pipelines_base_dir)

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """dlt's working folder for ``warehouse`` (dlt restores it from the warehouse)."""
        return (self._workdir(warehouse),)

    def dlt_source(self, request: RunRequest, pipeline: Any = None) -> Any:
        """A fresh dlt source carrying every stacks behaviour (stamps, quarantine, file format).

        Column types already stored by ``pipeline`` (or by the last :meth:`dlt_pipeline`) count as
        declared, so a later type change is quarantined instead of becoming a variant column.
        A full refresh (or raw tables gone, see :meth:`refresh_mode`) resets the resources' state
        and replaces each table atomically (:func:`~stacks_el_dlt.refresh.reload_resources`).
        """
        from stacks_el_dlt.failures import resource_chains, resource_states
        from stacks_el_dlt.prepare import prepare_resources
        from stacks_el_dlt.refresh import reload_resources

        source = self._build_source()
        if request.window is not None and not self.windows_per_table:
            from stacks_el_dlt.window import apply_window

            apply_window(source, request.window)
        stored = stored_schema(pipeline) if pipeline is not None else self._bound_schema
        lines, refused = prepare_resources(
            self,
            source,
            request,
            pipeline,
            stored,
            self._counter(request.run_id),
            self._counter(request.run_id, self._discarded),
        )
        self.drift_lines += lines
        self._per_run(self._refused, request.run_id, refused or None)
        if pipeline is not None:
            before = (resource_states(pipeline), resource_chains(source))
            self._per_run(self._before, request.run_id, before)
        if self._per_run(self._reloads, request.run_id, None):
            reload_resources(pipeline, source)
        return source

    def load_result(self, pipeline: Any, request: RunRequest, started_at: datetime) -> LoadResult:
        """Exact rows per table written by the last run of ``pipeline``.

        Tables whose load failed are not counted: their resources get back the state they had
        before the run (committed at once), and :class:`~stacks_el_dlt.errors.TablesFailed`
        is raised naming each with its reason, carrying this result (see
        :mod:`stacks_el_dlt.failures`)."""
        from stacks_el_dlt.failures import failed_tables

        trace = pipeline.last_trace
        infos = []
        if trace is not None:
            infos = [s.step_info for s in trace.steps if s.step == "load" and s.step_info]
        failed = failed_tables([trace] if trace is not None else [])
        failed.update(self._per_run(self._refused, request.run_id, None) or {})
        counts = rows_from_load_infos(infos, trace)
        rows = {
            f"{self.dataset}.{t}": n
            for t, n in sorted(counts.items())
            if t != QUARANTINE_TABLE and t not in failed
        }
        quarantined = {
            f"{self.dataset}.{t}": n for t, n in sorted(self._counter(request.run_id).items())
        }
        load_ids = [p.load_id for i in infos for p in i.load_packages]
        if failed:
            self._restore_failed(pipeline, request, failed)
        result = LoadResult(
            step=self.name,
            run_id=request.run_id,
            load_id=load_ids[-1] if load_ids else None,
            rows=rows,
            quarantined=quarantined,
            cursor=cursors(pipeline),
            started_at=started_at,
            finished_at=utcnow(),
        )
        if failed:
            from stacks_el_dlt.failures import failure_error

            raise failure_error(self.name, self.dataset, failed, result, self._mask)
        return result

    def _restore_failed(self, pipeline: Any, request: RunRequest, failed: dict[str, str]) -> None:
        from stacks_el_dlt.failures import restore_resource_states

        before: dict[str, Any] = {}
        chains: dict[str, set[str]] = {}
        before, chains = self._per_run(self._before, request.run_id, None) or (before, chains)
        owners = {ref.name: res for ref, res in self.table_resources().items()}
        if all(t in owners for t in failed):
            roots = {owners[t] for t in failed}
        else:  # the quarantine or dlt's own tables: no table's cursor may move
            roots = set(owners.values()) | set(chains)
        resources = {r for root in roots for r in chains.get(root, {root})}
        restore_resource_states(pipeline, before, resources)

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        """Post-load work: none. Quarantine rows travel in the same load package as the data."""

    # --- the port -------------------------------------------------------------------------------

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        preflight(warehouse)
        report(self.name, f"loading into {warehouse.redacted_url()}")
        pipeline = self.dlt_pipeline(warehouse, report)
        self.drift_lines = []
        try:
            refresh = self.refresh_mode(pipeline, request, warehouse, report)
            source = self.dlt_source(request, pipeline)
            for line in self.drift_lines:
                report(self.name, line)
            self.last_traces = extract_then_load(pipeline, source, refresh)
        except Exception as exc:
            raise self.translate_error(exc, warehouse) from None
        from stacks_el_dlt.prepare import discard_lines

        for line in discard_lines(self._counter(request.run_id, self._discarded)):
            report(self.name, line)
        result = self.load_result(pipeline, request, started)
        self.finalize(pipeline, request)
        report(self.name, f"{result.total_rows} rows into {len(result.rows)} tables")
        return result

    def refresh_mode(
        self, pipeline: Any, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> str | None:
        """Sync ``pipeline`` with the warehouse; the dlt ``refresh=`` mode to pass to
        ``pipeline.run`` (always None: a full refresh, or raw tables dropped since the last run,
        is carried by the next :meth:`dlt_source` for ``request``, see
        :mod:`stacks_el_dlt.refresh`). Call it before :meth:`dlt_source`."""
        from stacks_el_dlt.refresh import prepare_run

        reload = prepare_run(self.name, pipeline, request, warehouse, self.dataset, report)
        self._per_run(self._reloads, request.run_id, reload)
        return None

    def file_format_for(self, warehouse: Warehouse) -> str:
        """The loader file format :meth:`run` uses (the pipeline's destination prefers it)."""
        return self.file_format or default_file_format(warehouse)

    # --- helpers --------------------------------------------------------------------------------

    def _build_source(self) -> Any:
        from stacks_el_dlt.building import build_source

        return build_source(self.name, self.source_factory, self._mask)

    def _counter(self, run_id: str, store: OrderedDict[str, Any] | None = None) -> Counter[str]:
        """The run's quarantined rows per table (or another per-run counter, ``store``)."""
        store = self._quarantined if store is None else store
        with self._lock:
            counter = store.get(run_id)
            if counter is None:
                counter = store[run_id] = Counter()
                while len(store) > 32:
                    store.popitem(last=False)
            return counter

    def _per_run(self, store: OrderedDict[str, Any], run_id: str, value: Any) -> Any:
        """Put ``value`` for ``run_id`` (bounded: the last 32 runs); None: take it out."""
        with self._lock:
            if value is None:
                return store.pop(run_id, None)
            store[run_id] = value
            while len(store) > 32:
                store.popitem(last=False)
            return value

    def translate_error(self, exc: BaseException, warehouse: Warehouse) -> StacksError:
        """A dlt exception as the one-sentence StacksError `run` raises (public for
        orchestrators that run dlt themselves).

        A Ctrl-C or SIGTERM that dlt caught itself (its normalize and load turn the signal into a
        ``SignalReceivedException``, a ``KeyboardInterrupt``, inside a step failure) is raised
        here as the ``KeyboardInterrupt`` it is: the run was interrupted, it did not fail."""
        cause: BaseException | None = exc
        for _ in range(20):
            if cause is None:
                break
            if isinstance(cause, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            cause = cause.__cause__ or cause.__context__
        return translate(
            exc,
            step=self.name,
            dataset=self.dataset,
            warehouse=warehouse,
            source_hint=self.source_hint,
            mask=self._mask,
        )

    def _mask(self, text: str) -> str:
        """``text`` with every URL's password masked (by the URL's structure), then each of the
        step's secrets wherever else it appears, URL schemes kept whole: a password that is also
        part of one ("postgres" in "postgresql://") must not mangle it."""
        import re

        from stacks_contract.warehouse import mask_secrets

        # "scheme://" kept whole, everything else searched for the step's secrets
        parts = re.split(r"(\b[a-z][a-z0-9+.-]*://)", mask_secrets(text))
        for i in range(0, len(parts), 2):
            for secret in self.secrets:
                if secret:
                    parts[i] = parts[i].replace(secret, "***")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dataset={self.dataset!r})"
