"""Column and table names stacks adds to what dlt loads (no dlt import here)."""

#: every loaded row: the stack's run id, and when the run started loading (UTC)
RUN_ID = "_stacks_run_id"
LOADED_AT = "_stacks_loaded_at"
#: per dataset: rows that broke the declared schema, with reason and raw payload
QUARANTINE_TABLE = "_stacks_quarantine"
#: scd2 row version: dlt's row hash of the source row, computed before the stamps are added
#: (dlt's own hash would include the run id and see every row as changed on every run)
ROW_HASH = "_stacks_row_hash"
#: a SQL source row's values no warehouse type holds, as {"column": "text"} (set aside, not loaded)
REJECTS = "_stacks_rejects"
#: the cursor of a Postgres table read by xmin (used by dlt's incremental, never loaded)
XMIN = "_stacks_xmin"
#: column hint: the Postgres type a Postgres warehouse column keeps (its Postgres source's type)
PG_TYPE = "x-stacks-pg-type"
