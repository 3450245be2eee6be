"""Column and table names stacks adds to what dlt loads (no dlt import here)."""

#: every loaded row: the stack's run id, and when the run started loading (UTC)
RUN_ID = "_stacks_run_id"
LOADED_AT = "_stacks_loaded_at"
#: per dataset: rows that broke the declared schema, with reason and raw payload
QUARANTINE_TABLE = "_stacks_quarantine"
