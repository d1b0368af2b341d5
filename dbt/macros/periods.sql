{#- First and last day of a half-year period named like '2023-H2'. -#}
{% macro period_start(period) -%}
    make_date(cast(split_part({{ period }}, '-H', 1) as integer), case when split_part({{ period }}, '-H', 2) = '1' then 1 else 7 end, 1)
{%- endmacro %}

{% macro period_end(period) -%}
    make_date(cast(split_part({{ period }}, '-H', 1) as integer), case when split_part({{ period }}, '-H', 2) = '1' then 6 else 12 end, case when split_part({{ period }}, '-H', 2) = '1' then 30 else 31 end)
{%- endmacro %}
