select
    order_date,
    status,
    count(*) as orders,
    sum(amount) as revenue,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('fct_orders') }}
group by order_date, status
