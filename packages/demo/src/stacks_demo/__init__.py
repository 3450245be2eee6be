"""The demo shop every shop stack loads: a tool-free API and the dbt project over its raw tables.

``SHOP_DBT_PROJECT`` is one dbt project shared by every shop stack, whichever EL tool loads the
raw tables: that layout is the shop's raw contract, which el-dlt's ``ShopStep`` and el-airbyte's
shop manifest both write. In the warehouse's raw schema: ``customers``, ``products``, ``orders``,
``payments``, the API's fields as typed columns; an order's lines stay the JSON array
``orders.items`` (``json``/``jsonb`` on Postgres, ``JSON`` on DuckDB: the staging model
``stg_order_items`` unnests either); plus each tool's own metadata columns (``_dlt_*``,
``_stacks_*``, ``_airbyte_*``), which no model reads.
"""

from pathlib import Path

from stacks_demo.shop import ShopServer, ShopState

SHOP_DBT_PROJECT = Path(__file__).parent / "shop_dbt"

__all__ = ["SHOP_DBT_PROJECT", "ShopServer", "ShopState"]
