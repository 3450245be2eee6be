select
    c.id,
    c.region_id,
    c.vip,
    count(o.id) as orders,
    coalesce(sum(o.total), 0) as lifetime_value
from {{ ref('stg_customers') }} c
left join {{ ref('fct_orders') }} o on o.customer_id = c.id
group by c.id, c.region_id, c.vip
