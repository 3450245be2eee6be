"""A warehouse going down mid-step is a transient failure (orchestrators retry it), told in the
database's own words; a re-run after it is back loads everything. A real Postgres of its own."""

from __future__ import annotations

import dlt
import psycopg
import pytest
from stacks_contract import RunRequest
from stacks_contract.errors import StacksError
from stacks_core.retry import is_transient
from stacks_el_dlt import DltStep
from stacks_testing.postgres import local_cluster


def test_a_server_shutting_down_mid_step_is_transient_and_the_rerun_loads() -> None:
    with local_cluster() as server:
        wh = server.create_database()
        held = psycopg.connect(wh.url())  # a smart shutdown waits for this session
        stopped: list[bool] = []

        def rows():
            yield {"id": 1, "v": "a"}
            if not stopped:  # extracted, not yet loaded: the server starts shutting down
                stopped.append(True)
                server.stop("smart", wait=False)
            yield {"id": 2, "v": "b"}

        def source():
            return dlt.resource(rows(), name="t", primary_key="id", write_disposition="merge")

        step = DltStep("s", source)
        with pytest.raises(StacksError) as info:
            step.run(RunRequest(stack="t"), wh)
        assert "the database system is shutting down" in str(info.value)
        assert is_transient(info.value), f"not transient: {info.value!r}"
        server.stop("fast")  # ends the held session, and the shutdown
        held.close()
        server.start()
        result = step.run(RunRequest(stack="t"), wh)  # the retry an orchestrator makes
        assert sum(result.rows.values()) == 2
