{% macro cents_to_dollars(column) -%}
  cast({{ column }} / 100.0 as numeric(16, 2))
{%- endmacro %}
