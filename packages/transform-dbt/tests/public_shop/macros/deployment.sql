{# which deployment built a row: teams branch on target.name like this for dev limits #}
{% macro deployment() -%}
  {%- if target.name == 'prod' -%} 'prod' {%- else -%} 'dev' {%- endif -%}
{%- endmacro %}
