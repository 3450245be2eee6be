"""Tool-free demo sources every EL package can read through its real connectors."""

from stacks_contract.demo.shop import ShopServer, ShopState

__all__ = ["ShopServer", "ShopState"]
