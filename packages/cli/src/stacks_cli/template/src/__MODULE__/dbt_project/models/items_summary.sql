-- try: uv run stacks run __NAME__ --vars '{min_price: 1}'
select
    count(*) as items,
    coalesce(sum(price), 0) as total_price,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('stg_items') }}
where price >= {{ var('min_price', 0) }}
