"""stacks-el-dlt: the contract's EL port over dlt, plus three real dlt sources.

Importing this package is cheap: dlt is imported inside the functions that need it.
"""

from stacks_el_dlt.destination import DEFAULT_FILE_FORMAT, dlt_destination, pipelines_dir
from stacks_el_dlt.names import LOADED_AT, QUARANTINE_TABLE, RUN_ID
from stacks_el_dlt.sources import (
    FilesStep,
    ShopApiStep,
    SqlDatabaseStep,
    files_source,
    shop_api_source,
    sql_source,
)
from stacks_el_dlt.step import DltStep

__all__ = [
    "DEFAULT_FILE_FORMAT",
    "LOADED_AT",
    "QUARANTINE_TABLE",
    "RUN_ID",
    "DltStep",
    "FilesStep",
    "ShopApiStep",
    "SqlDatabaseStep",
    "dlt_destination",
    "files_source",
    "pipelines_dir",
    "shop_api_source",
    "sql_source",
]
