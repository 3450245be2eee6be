"""Asset keys and the names of jobs, schedules and sensors: one rule for everything a stack
becomes, so a user reading Dagster's UI sees which stack and which trigger each one is."""

from __future__ import annotations

import re
from typing import Any

from stacks_contract.models import CronTrigger, TableRef

__all__ = [
    "EL_GROUP",
    "TRANSFORM_GROUP",
    "cron_slug",
    "op_name",
    "stack_job_name",
    "table_key",
]

EL_GROUP = "el"
TRANSFORM_GROUP = "transform"


def op_name(name: str) -> str:
    """A Dagster op name from anything: letters, digits and underscores only."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def table_key(table: TableRef) -> Any:
    from dagster import AssetKey

    return AssetKey([table.schema_name, table.name])


def stack_job_name(stack: str) -> str:
    """The job running the whole stack: the stack's own name (``dagster-dlt-dbt`` ->
    ``dagster_dlt_dbt``)."""
    return op_name(stack)


def cron_slug(trigger: CronTrigger) -> str:
    """A readable name for a cron trigger: ``daily_at_0600``, ``hourly_at_15``, else the
    expression itself (``every_15_x_x_x_x`` for ``*/15 * * * *``); the timezone when not UTC."""
    fields = trigger.cron.split()
    minute, hour, rest = fields[0], fields[1], fields[2:]
    if rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit():
        slug = f"daily_at_{int(hour):02}{int(minute):02}"
    elif rest == ["*", "*", "*"] and minute.isdigit() and hour == "*":
        slug = f"hourly_at_{int(minute):02}"
    else:
        text = trigger.cron.replace("*/", "every_").replace("*", "x")
        slug = re.sub(r"\W+", "_", text).strip("_")
    if trigger.timezone.upper() != "UTC":
        slug += "_" + re.sub(r"\W+", "_", trigger.timezone).strip("_").lower()
    return slug
