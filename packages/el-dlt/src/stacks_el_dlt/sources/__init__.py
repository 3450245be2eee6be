"""Real dlt sources shipped with stacks-el-dlt, each wrapped as a ready :class:`DltStep`."""

from stacks_el_dlt.sources.files import FilesStep, files_source
from stacks_el_dlt.sources.shop import ShopApiStep, shop_api_source
from stacks_el_dlt.sources.sql import SqlDatabaseStep, sql_source

__all__ = [
    "FilesStep",
    "ShopApiStep",
    "SqlDatabaseStep",
    "files_source",
    "shop_api_source",
    "sql_source",
]
