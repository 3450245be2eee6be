"""The demo shop every shop stack loads: a tool-free API and the dbt project over its raw tables.

``SHOP_DBT_PROJECT`` is one dbt project shared by every shop stack, whichever EL tool loads the
raw tables (``customers``, ``products``, ``orders``, ``orders__items``, ``payments`` in the
warehouse's raw schema): that layout is the shop's raw contract.
"""

from pathlib import Path

from stacks_testing.demo.shop import ShopServer, ShopState

SHOP_DBT_PROJECT = Path(__file__).parent / "shop_dbt"

__all__ = ["SHOP_DBT_PROJECT", "ShopServer", "ShopState"]
