"""The tools a user would pick instead of stacks, measured beside it (the ``peers_*`` cases).

Installed by the bench itself, pinned, each in a venv of its own (:mod:`peers.install`), never in
the workspace's lock; run as whole processes (:mod:`peers.tools`) on byte-identical sources
(:mod:`peers.sourcedb`), every run checked row by row (:mod:`peers.verify`), interleaved
(:mod:`peers.series`). The scripts beside them (``stack_sql.py``, ``stacks_api.py``,
``plain_dlt.py``, ``copy_ref.py``) are what those processes run.
"""
