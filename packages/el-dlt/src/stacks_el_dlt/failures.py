"""Tables that fail alone: one table's failed load job never blocks or moves another's.

dlt runs a step's pipeline with ``load.raise_on_failed_jobs=False`` (scoped to the pipeline's name,
see :func:`keep_loading_on_failed_jobs`): a job that fails terminally is recorded in its load
package and the package completes, so every other table's rows land and the state (the cursors)
is committed with them. The failed tables' resources then get back the state they had before the
run, committed in a state-only load at once, so their next run reads the same rows again; the
run fails naming every failed table with the database's reason (:class:`~.errors.TablesFailed`,
whose result counts the tables that loaded).

What a failed job leaves: a job is one table's file (its copy into the table, or into the merge
staging table), or the SQL that merges or replaces a table from its staging copy in one
transaction; a failed job wrote nothing. Between the package's completion and the state-only
load the failed table's cursor is the moved one: a kill in that moment leaves it moved.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stacks_contract.errors import StacksError

__all__ = [
    "failed_tables",
    "failure_error",
    "keep_loading_on_failed_jobs",
    "resource_chains",
    "resource_states",
    "restore_resource_states",
]


def keep_loading_on_failed_jobs(pipeline_name: str) -> None:
    """dlt's ``load.raise_on_failed_jobs=False`` for this pipeline only (dlt reads config scoped
    by pipeline name first), so a plain ``pipeline.run`` (dagster-dlt) behaves the same; a
    user's own setting for the pipeline wins."""
    os.environ.setdefault(f"{pipeline_name.upper()}__LOAD__RAISE_ON_FAILED_JOBS", "false")


def failed_tables(traces: Iterable[Any]) -> dict[str, str]:
    """table -> the database's sentence, for every failed load job of ``traces``' loads."""
    from stacks_el_dlt.errors import whole_message

    out: dict[str, str] = {}
    for trace in traces:
        for step in getattr(trace, "steps", None) or ():
            if step.step != "load" or step.step_info is None:
                continue
            for package in step.step_info.load_packages:
                for job in package.jobs.get("failed_jobs", []):
                    text = whole_message(Exception(job.failed_message or "the job failed"))
                    out.setdefault(job.job_file_info.table_name, _reason(text))
    return out


def _reason(text: str) -> str:
    # dlt's job message ends with the exception line "dlt.x.y.SomeException: <the database's
    # words>"; keep the words
    head, sep, rest = text.partition(": ")
    if sep and "." in head and " " not in head:
        return rest
    return text


def resource_chains(source: Any) -> dict[str, set[str]]:
    """Each selected resource -> itself and the resources feeding it (a transformer's cursor may
    live in its parent: the files source's file dates)."""
    parents: dict[str, set[str]] = {}
    for parent, child in source.resources.selected_dag:
        parents.setdefault(child, set()).add(parent)
    out: dict[str, set[str]] = {}
    for name in source.selected_resources:
        chain, todo = {name}, [name]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in chain:
                    chain.add(parent)
                    todo.append(parent)
        out[name] = chain
    return out


def resource_states(pipeline: Any) -> dict[str, Any]:
    """A copy of every source's resource states (cursors) as the pipeline holds them now."""
    sources = pipeline.state.get("sources", {})
    return {
        section: copy.deepcopy(state.get("resources") or {}) for section, state in sources.items()
    }


def restore_resource_states(
    pipeline: Any, before: Mapping[str, Any], resources: Iterable[str]
) -> None:
    """Give ``resources`` back the state of ``before`` and commit it to the warehouse now."""
    wanted = set(resources)
    if not wanted:
        return
    with pipeline.managed_state(extract_state=True) as state:
        sources = state.setdefault("sources", {})
        for section in set(sources) | set(before):
            now = sources.setdefault(section, {}).setdefault("resources", {})
            old = before.get(section, {})
            for name in wanted:
                if name in old:
                    now[name] = copy.deepcopy(old[name])
                else:
                    now.pop(name, None)
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
        pipeline.load()


def failure_error(
    step: str, dataset: str, failed: Mapping[str, str], result: Any, mask: Callable[[str], str]
) -> StacksError:
    """The error a run with failed tables ends in: :class:`~.errors.TablesFailed` naming each
    table with its reason, or a transient error (orchestrators run the step again) when a
    reason is a connection lost or a server restarting."""
    from stacks_contract.errors import TransientError
    from stacks_core.retry import transient_message

    from stacks_el_dlt.errors import TablesFailed
    from stacks_el_dlt.logs import dlt_log_path

    why = "; ".join(f"{dataset}.{t}: {m}" for t, m in sorted(failed.items()))
    sentence = mask(
        f"{len(failed)} table(s) failed to load, the others loaded: {why} "
        f"(dlt's log: {dlt_log_path()})"
    )
    if any(transient_message(m) for m in failed.values()):
        return TransientError(step, sentence)
    return TablesFailed(step, sentence, result, dict(failed))
