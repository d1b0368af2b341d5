{#- Every row of the model obeys every rule: `rules` maps a rule's name to a SQL expression that
    must be true (NULL counts as false, so `x >= 0` also says that x is never missing). One test
    holds a model's rules because dbt spends about 25 ms on each test it runs, whatever the test
    checks: a model's thirty one-line checks cost most of a small run. A failure lists each broken
    rule with how many rows break it; the test's failure count is their sum (a row that breaks two
    rules counts twice). -#}
{% test row_rules(model, rules) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
select rule, count(*) as failing_rows
from (
  {%- for name, expression in rules.items() %}
  select '{{ name }}' as rule from {{ model }} where not coalesce(({{ expression }}), false)
  {%- if not loop.last %} union all{% endif %}
  {%- endfor %}
)
group by rule
{% endtest %}
