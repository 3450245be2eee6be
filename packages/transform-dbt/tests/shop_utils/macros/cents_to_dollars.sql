{% macro cents_to_dollars(column) -%}
  cast({{ column }} as numeric(16, 2)) / 100
{%- endmacro %}
