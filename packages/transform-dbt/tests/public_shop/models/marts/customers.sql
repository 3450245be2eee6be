with order_totals as (
    select customer_id, count(*) as number_of_orders, sum(amount) as lifetime_value
    from {{ ref('orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.first_name || ' ' || c.last_name as full_name,
    cc.name as country_name,
    coalesce(t.number_of_orders, 0) as number_of_orders,
    coalesce(t.lifetime_value, 0) as lifetime_value,
    {{ deployment() }} as deployment
from {{ ref('stg_customers') }} as c
left join {{ ref('country_codes') }} as cc on cc.code = c.country
left join order_totals as t on t.customer_id = c.customer_id
