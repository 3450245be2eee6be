select placed_on, count(*) as orders, sum(total) as revenue, sum(paid) as paid
from {{ ref('fct_orders') }}
group by placed_on
