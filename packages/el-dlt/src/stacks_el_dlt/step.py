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
from stacks_contract.warehouse import DEFAULT_SCHEMA, PostgresWarehouse, Warehouse
from stacks_core.state import use_state_dir

from stacks_el_dlt._config import apply_dlt_defaults
from stacks_el_dlt.counting import rows_from_load_infos
from stacks_el_dlt.cursor_state import DltCursors
from stacks_el_dlt.destination import default_file_format, dlt_destination, pipelines_dir
from stacks_el_dlt.errors import one_line, translate
from stacks_el_dlt.extract_load import extract_then_load
from stacks_el_dlt.names import QUARANTINE_TABLE
from stacks_el_dlt.working import (
    STATE_FOLDERS,
    cursors,
    drop_working_folder,
    remove_dropped_folders,
    stored_schema,
)

#: a dlt source, a resource, or several resources
SourceFactory = Callable[[], Any]


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
    ) -> None:
        if not callable(source) or _is_dlt_object(source):
            raise ConfigError(
                f"Step {name!r}: pass a factory (a callable returning a fresh dlt source), not a "
                "source object: dlt cannot run the same source object twice."
            )
        self.name = name
        self.source_factory = source
        #: ``dataset=None``: the warehouse's schema (``?schema=``), bound by :meth:`dlt_pipeline`
        self.dataset = dataset or DEFAULT_SCHEMA
        self._dataset_from_warehouse = dataset is None
        self._tables = tuple(tables) if tables is not None else None
        #: the tables found by building the source once (see :meth:`table_resources`)
        self._found: dict[TableRef, str] | None = None
        self.pipeline_name = pipeline_name or f"stacks_{_ident(name)}"
        self.pipelines_base_dir = pipelines_base_dir
        self.file_format = file_format
        self.quarantine_rows = quarantine_rows
        self.arrow_batches = arrow_batches
        # quarantine counts per run id, filled while dlt extracts (bounded: last 32 runs)
        self._quarantined: OrderedDict[str, Counter[str]] = OrderedDict()
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

    def dlt_pipeline(self, warehouse: Warehouse) -> Any:
        """The configured :class:`dlt.Pipeline` :meth:`run` uses, with no pending load packages.

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

        apply_dlt_defaults()
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
        if pipeline.has_pending_data:
            pipeline = drop_working_folder(pipeline)
        self._bound_schema = stored_schema(pipeline)
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
        """
        from stacks_el_dlt.drift import follow_drift
        from stacks_el_dlt.hints import (
            declare_quarantine,
            declared_columns,
            pin_file_format,
            propagate_stamps,
            version_scd2_rows,
        )
        from stacks_el_dlt.rules import rules_from_columns
        from stacks_el_dlt.stamp import StampAndQuarantine

        source = self._build_source()
        propagate_stamps(source.schema)
        stored = stored_schema(pipeline) if pipeline is not None else self._bound_schema
        counter = self._counter(request.run_id)
        loaded_at = utcnow()
        naming = source.schema.naming
        destination = getattr(pipeline, "destination", None)
        postgres = "postgres" in str(getattr(destination, "destination_type", ""))
        for resource in source.selected_resources.values():
            table = resource.table_name if isinstance(resource.table_name, str) else resource.name
            table = naming.normalize_table_identifier(table)
            columns: dict[str, Any] = {}
            if stored is not None and table in stored.tables:
                columns.update(stored.tables[table].get("columns", {}))
            self.drift_lines += follow_drift(resource, table, columns, naming, pipeline)
            for key, hint in declared_columns(resource, naming).items():
                # a hint without a type (primary_key=) keeps the type stored by earlier loads
                typed = {k: v for k, v in hint.items() if v is not None}
                columns[key] = {**columns.get(key, {}), **typed}
            if any(c.get("data_type") == "json" for c in columns.values()):
                pin_file_format(resource, self.file_format)
            rules = rules_from_columns(columns) if self.quarantine_rows else {}
            if self.quarantine_rows:
                declare_quarantine(resource)
            known = {
                k: c
                for k, c in columns.items()
                if c.get("data_type") and not k.startswith(("_dlt_", "_stacks_"))
            }
            resource.add_step(
                StampAndQuarantine(
                    step=self.name,
                    table=table,
                    run_id=request.run_id,
                    loaded_at=loaded_at,
                    rules=rules,
                    counter=counter,
                    normalize=naming.normalize_identifier,
                    row_hash=version_scd2_rows(resource),
                    arrow_batches=self.arrow_batches,
                    known_types={k: c["data_type"] for k, c in known.items()},
                    known_columns=known,
                    text_lengths=postgres,
                    quarantine=self.quarantine_rows,
                )
            )
        return source

    def load_result(self, pipeline: Any, request: RunRequest, started_at: datetime) -> LoadResult:
        """Exact rows per table written by the last run of ``pipeline``."""
        trace = pipeline.last_trace
        infos = []
        if trace is not None:
            infos = [s.step_info for s in trace.steps if s.step == "load" and s.step_info]
        counts = rows_from_load_infos(infos, trace)
        rows = {
            f"{self.dataset}.{t}": n for t, n in sorted(counts.items()) if t != QUARANTINE_TABLE
        }
        quarantined = {
            f"{self.dataset}.{t}": n for t, n in sorted(self._counter(request.run_id).items())
        }
        load_ids = [p.load_id for i in infos for p in i.load_packages]
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            load_id=load_ids[-1] if load_ids else None,
            rows=rows,
            quarantined=quarantined,
            cursor=cursors(pipeline),
            started_at=started_at,
            finished_at=utcnow(),
        )

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        """Post-load work: none. Quarantine rows travel in the same load package as the data."""

    # --- the port -------------------------------------------------------------------------------

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        _preflight(warehouse)
        report(self.name, f"loading into {warehouse.redacted_url()}")
        pipeline = self.dlt_pipeline(warehouse)
        self.drift_lines = []
        try:
            refresh = self.refresh_mode(pipeline, request, warehouse, report)
            source = self.dlt_source(request, pipeline)
            for line in self.drift_lines:
                report(self.name, line)
            self.last_traces = extract_then_load(pipeline, source, refresh)
        except Exception as exc:
            raise self.translate_error(exc, warehouse) from None
        result = self.load_result(pipeline, request, started)
        self.finalize(pipeline, request)
        report(self.name, f"{result.total_rows} rows into {len(result.rows)} tables")
        return result

    def refresh_mode(
        self, pipeline: Any, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> str | None:
        """Sync ``pipeline`` with the warehouse; the dlt ``refresh=`` mode of this run: a full
        refresh, or raw tables dropped since the last run (see :mod:`stacks_el_dlt.refresh`).
        Orchestrators running dlt themselves pass it to ``pipeline.run(..., refresh=...)``."""
        from stacks_el_dlt.refresh import prepare_run

        return prepare_run(self.name, pipeline, request, warehouse, self.dataset, report)

    def file_format_for(self, warehouse: Warehouse) -> str:
        """The loader file format :meth:`run` uses (the pipeline's destination prefers it)."""
        return self.file_format or default_file_format(warehouse)

    # --- helpers --------------------------------------------------------------------------------

    def _build_source(self) -> Any:
        from dlt.common.schema import Schema
        from dlt.extract import DltResource, DltSource

        apply_dlt_defaults()
        try:
            obj = self.source_factory()
        except StacksError:
            raise
        except Exception as exc:
            raise ConfigError(
                self._mask(f"Step {self.name!r}: building the dlt source failed: {one_line(exc)}")
            ) from None
        if isinstance(obj, DltSource):
            return obj
        if isinstance(obj, DltResource):
            resources = [obj]
        elif isinstance(obj, list | tuple) and all(isinstance(r, DltResource) for r in obj):
            resources = list(obj)
        else:
            raise ConfigError(
                f"Step {self.name!r}: the source factory returned {type(obj).__name__}, "
                "expected a dlt source, a dlt resource or a list of resources."
            )
        return DltSource(Schema(_ident(self.name)), "stacks", resources)

    def _counter(self, run_id: str) -> Counter[str]:
        with self._lock:
            counter = self._quarantined.get(run_id)
            if counter is None:
                counter = self._quarantined[run_id] = Counter()
                while len(self._quarantined) > 32:
                    self._quarantined.popitem(last=False)
            return counter

    def translate_error(self, exc: BaseException, warehouse: Warehouse) -> StacksError:
        """A dlt exception as the one-sentence StacksError `run` raises (public for
        orchestrators that run dlt themselves)."""
        return translate(
            exc,
            step=self.name,
            dataset=self.dataset,
            warehouse=warehouse,
            source_hint=self.source_hint,
            mask=self._mask,
        )

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dataset={self.dataset!r})"


def _is_dlt_object(obj: Any) -> bool:
    import sys

    if "dlt.extract" not in sys.modules:
        return False  # no dlt object exists before dlt is imported: building a step stays cheap
    try:
        from dlt.extract import DltResource, DltSource
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, DltSource | DltResource)


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name.lower())
    return out if out and not out[0].isdigit() else f"s_{out}"


def _preflight(warehouse: Warehouse) -> None:
    # one cheap connection first: a wrong host or password becomes one clear sentence instead of
    # a dlt traceback after the extract ran
    if isinstance(warehouse, PostgresWarehouse):
        from stacks_core.sql import connect

        connect(warehouse).close()
