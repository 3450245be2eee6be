"""The shop step declares its tables (the shop's raw contract) instead of building the dlt source
to find them: the declaration must be what the source builds."""

from stacks_el_dlt import DltStep
from stacks_el_dlt.sources.demo_shop import ShopStep, shop_source


def test_the_shop_steps_declared_tables_are_the_ones_its_source_builds() -> None:
    declared = ShopStep().table_resources()
    discovered = DltStep("shop", shop_source).table_resources()  # builds the dlt source
    assert declared == discovered
