select
    c.customer_id,
    c.name,
    c.email,
    c.country,
    c.created_at,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as lifetime_value,
    min(o.created_at) as first_order_at,
    max(o.created_at) as last_order_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('stg_customers') }} as c
left join {{ ref('fct_orders') }} as o on o.customer_id = c.customer_id
group by c.customer_id, c.name, c.email, c.country, c.created_at
