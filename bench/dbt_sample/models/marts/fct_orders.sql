select
    o.id,
    o.customer_id,
    o.status,
    o.placed_on,
    o.total,
    coalesce(i.items, 0) as items,
    coalesce(p.paid, 0) as paid,
    s.shipped_on,
    r.refund
from {{ ref('stg_orders') }} o
left join (
    select order_id, sum(qty) as items from {{ ref('stg_order_items') }} group by order_id
) i on i.order_id = o.id
left join (
    select order_id, sum(amount) as paid from {{ ref('stg_payments') }} group by order_id
) p on p.order_id = o.id
left join {{ ref('stg_shipments') }} s on s.order_id = o.id
left join {{ ref('stg_returns') }} r on r.order_id = o.id
