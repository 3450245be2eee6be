"""What :meth:`~stacks_el_dlt.step.DltStep.dlt_source` adds to each resource of a fresh source:
stamps, quarantine rules from the declared and stored column types, drift followed, file format,
and the step's schema contract.

The schema contract (``DltStep(..., schema_contract=)``) is dlt's, per resource, for new columns
and data types (new tables always evolve):

* ``evolve`` (default): new columns are added; a widened column type is widened in the warehouse;
  values that do not fit the warehouse's type go to the quarantine (see :mod:`.drift`);
* ``freeze``: the warehouse's schema never changes. dlt's ``freeze`` refuses a new column; a
  column whose declared type changed refuses its table here, before anything is read: the table
  fails alone, naming the column, its cursor unmoved, and the others load;
* ``discard_value``: the warehouse's schema never changes. dlt's ``discard_value`` drops a new
  column's values; a value that does not fit its column's type is dropped (NULL), the row loads,
  and the run says how many per column.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stacks_contract.models import RunRequest, utcnow

__all__ = ["discard_lines", "prepare_resources"]


def prepare_resources(
    step: Any,
    source: Any,
    request: RunRequest,
    pipeline: Any,
    stored: Any,
    counter: Counter[str],
    discarded: Counter[str],
) -> tuple[list[str], dict[str, str]]:
    """Add the stamp-and-quarantine step to every selected resource of ``source``; returns the
    lines of the column type changes followed (see :mod:`stacks_el_dlt.drift`), and the tables
    the ``freeze`` contract refused (deselected), with why."""
    from stacks_el_dlt.drift import follow_drift, type_text
    from stacks_el_dlt.hints import (
        declare_quarantine,
        declared_columns,
        pin_file_format,
        propagate_stamps,
        version_scd2_rows,
    )
    from stacks_el_dlt.rules import rules_from_columns
    from stacks_el_dlt.stamp import StampAndQuarantine

    propagate_stamps(source.schema)
    loaded_at = utcnow()
    naming = source.schema.naming
    destination = getattr(pipeline, "destination", None)
    postgres = "postgres" in str(getattr(destination, "destination_type", ""))
    contract = step.schema_contract
    lines: list[str] = []
    refused: dict[str, str] = {}
    for resource in list(source.selected_resources.values()):
        table = resource.table_name if isinstance(resource.table_name, str) else resource.name
        table = naming.normalize_table_identifier(table)
        columns: dict[str, Any] = {}
        if stored is not None and table in stored.tables:
            columns.update(stored.tables[table].get("columns", {}))
        said, kept = follow_drift(resource, table, columns, naming, pipeline, contract)
        lines += said
        if contract != "evolve":
            resource.apply_hints(schema_contract={"columns": contract, "data_type": contract})
        if contract == "freeze" and kept:
            changed = ", ".join(
                f"{c.column} changed type {type_text(c.stored)} -> {type_text(c.incoming)}"
                for c in kept
            )
            refused[table] = f"{changed}; schema_contract='freeze' keeps the warehouse's schema"
            resource.selected = False
            continue
        for key, hint in declared_columns(resource, naming).items():
            # a hint without a type (primary_key=) keeps the type stored by earlier loads
            typed = {k: v for k, v in hint.items() if v is not None}
            columns[key] = {**columns.get(key, {}), **typed}
        if any(c.get("data_type") == "json" for c in columns.values()):
            pin_file_format(resource, step.file_format)
        rules = rules_from_columns(columns) if step.quarantine_rows else {}
        if step.quarantine_rows:
            declare_quarantine(resource)
        known = {
            k: c
            for k, c in columns.items()
            if c.get("data_type") and not k.startswith(("_dlt_", "_stacks_"))
        }
        resource.add_step(
            StampAndQuarantine(
                step=step.name,
                table=table,
                run_id=request.run_id,
                loaded_at=loaded_at,
                rules=rules,
                counter=counter,
                normalize=naming.normalize_identifier,
                row_hash=version_scd2_rows(resource),
                arrow_batches=step.arrow_batches,
                known_types={k: c["data_type"] for k, c in known.items()},
                known_columns=known,
                text_lengths=postgres,
                quarantine=step.quarantine_rows,
                discarded=discarded if contract == "discard_value" else None,
            )
        )
    return lines, refused


def discard_lines(discarded: Counter[str]) -> list[str]:
    """One line per column whose values the discard_value contract dropped in a run."""
    lines = []
    for column, n in sorted(discarded.items()):
        table, _, name = column.partition(".")
        lines.append(
            f"table {table}: {n} value(s) of column {name} did not fit its type: dropped (NULL), "
            "as schema_contract='discard_value' says"
        )
    return lines
