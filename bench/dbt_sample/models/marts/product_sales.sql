select p.id, p.sku, coalesce(sum(i.qty), 0) as units, coalesce(sum(i.qty * i.price), 0) as sales
from {{ ref('stg_products') }} p
left join {{ ref('stg_order_items') }} i on i.product_id = p.id
group by p.id, p.sku
