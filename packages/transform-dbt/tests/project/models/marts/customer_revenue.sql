select
    c.id as customer_id,
    c.name,
    c.country,
    count(o.id) as orders,
    coalesce(sum(o.amount), 0) as revenue,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('stg_customers') }} as c
left join {{ ref('orders_enriched') }} as o on o.customer_id = c.id
group by c.id, c.name, c.country
