"""Declarative (YAML) Airbyte source manifests shipped with the package."""

from __future__ import annotations

from pathlib import Path

#: the demo shop API (``stacks_demo.shop``) as an Airbyte source; config ``{"url": ...}``
SHOP_MANIFEST = Path(__file__).with_name("shop.yaml")

__all__ = ["SHOP_MANIFEST"]
