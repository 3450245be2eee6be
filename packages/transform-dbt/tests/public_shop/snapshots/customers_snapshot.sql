{% snapshot customers_snapshot %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}
select id, first_name, last_name, country, cast(updated_at as timestamp) as updated_at
from {{ source('shop', 'customers') }}
{% endsnapshot %}
