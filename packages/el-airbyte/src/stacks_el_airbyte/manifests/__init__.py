"""Declarative (YAML) Airbyte source manifests shipped with the package."""

from __future__ import annotations

from pathlib import Path

#: the folder of shipped manifests (a source's ``sourceType`` names one: ``shop``)
MANIFESTS_DIR = Path(__file__).parent
#: the demo shop API (``stacks_demo.shop``) as an Airbyte source; config ``{"url": ...}``
SHOP_MANIFEST = Path(__file__).with_name("shop.yaml")

__all__ = ["MANIFESTS_DIR", "SHOP_MANIFEST"]
