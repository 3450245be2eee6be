"""One el-dlt load in its own process, reporting its peak RSS (for bench/run.py's memory case).

    python bench/el_child.py --rows N --warehouse URL --workdir DIR

The rows are generated batch by batch (never all in memory), so the peak is el-dlt's own.
Prints one JSON line: seconds, rows loaded, peak RSS (VmHWM) before the load and overall, and
``ru_maxrss`` of waited children (dlt uses none by default; kept to notice if it starts to).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def vm_hwm_kb() -> int:
    """Peak RSS of this process image, from /proc (VmHWM). Not ``ru_maxrss``: Linux carries
    ``ru_maxrss`` across fork+exec, so a child of a big parent reports the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--source", choices=["arrow", "dicts"], default="arrow")
    args = ap.parse_args()

    import data
    import sources
    from stacks_contract.models import RunRequest
    from stacks_contract.warehouse import parse_warehouse
    from stacks_el_dlt import DltStep

    wh = parse_warehouse(args.warehouse)
    step = DltStep(
        "orders",
        sources.orders(
            (lambda _lv: sources.streamed_arrow(args.rows))
            if args.source == "arrow"
            else (lambda _lv: data.dict_pages(args.rows))
        ),
        pipelines_base_dir=args.workdir,
    )
    import dlt  # noqa: F401  (imported before the baseline so it is not counted as load memory)

    base_kb = vm_hwm_kb()
    t0 = time.perf_counter()
    result = step.run(RunRequest(stack="bench"), wh)
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": result.total_rows,
                "maxrss_before_load_kb": base_kb,
                "maxrss_self_kb": vm_hwm_kb(),
                "maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
