-- how often each customer changed, from the snapshot's history
select customer_id, count(*) as versions
from (select id as customer_id from {{ ref('customers_snapshot') }}) as history
group by customer_id
