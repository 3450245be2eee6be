select
    order_date,
    count(*) as orders,
    sum(amount) as revenue,
    sum(paid_amount) as paid,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('fct_orders') }}
group by order_date
