"""Column and table names stacks adds to what dlt loads (no dlt import here)."""

#: every loaded row: the stack's run id, and when the run started loading (UTC)
RUN_ID = "_stacks_run_id"
LOADED_AT = "_stacks_loaded_at"
#: per dataset: rows that broke the declared schema, with reason and raw payload
QUARANTINE_TABLE = "_stacks_quarantine"
#: scd2 row version: dlt's row hash of the source row, computed before the stamps are added
#: (dlt's own hash would include the run id and see every row as changed on every run)
ROW_HASH = "_stacks_row_hash"
