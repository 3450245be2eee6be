{{ config(enabled=var('stacks_test_failing', false), tags=['designed_to_fail']) }}
-- designed to fail: the seeded data has orders of 100 or more
select id, amount from {{ ref('orders_enriched') }} where amount >= 100
