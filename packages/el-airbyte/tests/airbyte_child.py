"""A sync in its own process, for the tests that SIGKILL it: after its first committed batch it
prints ``COMMITTED`` and waits to be killed.

stdin: JSON {"url", "warehouse" (model dump with the password), "page_size", "batch_size"}.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator

from pydantic import TypeAdapter
from stacks_contract.warehouse import Warehouse
from stacks_el_airbyte.local import destination
from stacks_el_airbyte.local.executor import CdkExecutor
from stacks_el_airbyte.local.model import ConnectionConfig, JobContext, StreamConfig
from stacks_el_airbyte.manifests import SHOP_MANIFEST


def main() -> None:
    args = json.load(sys.stdin)
    wh = TypeAdapter(Warehouse).validate_python(args["warehouse"])
    original = destination.Destination.transaction

    @contextlib.contextmanager
    def announce(self: destination.Destination) -> Iterator[None]:
        with original(self):
            yield
        print("COMMITTED", flush=True)
        time.sleep(120)  # killed here

    destination.Destination.transaction = announce  # type: ignore[method-assign]
    conn = ConnectionConfig(
        connection_id="conn-shop",
        name="shop",
        source_manifest=SHOP_MANIFEST,
        source_config={"url": args["url"], "page_size": args["page_size"]},
        streams=tuple(
            StreamConfig(n, "incremental_deduped_history")
            for n in ("customers", "products", "orders", "payments")
        ),
        destination=wh,
    )
    CdkExecutor(batch_size=args["batch_size"]).run(conn, JobContext(1, "sync"))
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
