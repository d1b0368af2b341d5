{{ config(tags=['per_period'], meta={'dagster': {'ref': {'name': 'information_requests_global'}}}) }}
-- The global figures of each period are the sums of its countries' figures: every count
-- measure the yml declares for information_requests.
{%- set counts = report_metrics('information_requests') | selectattr('format', 'equalto', 'count') | list %}
with by_country as (
    select
        period,
        {%- for m in counts %}
        sum({{ m.column }}) as {{ m.column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('information_requests') }}
    group by period
)
select coalesce(g.period, c.period) as period
from {{ ref('information_requests_global') }} as g
full outer join by_country as c on c.period = g.period
where g.period is null or c.period is null
    {%- for m in counts %}
    or g.{{ m.column }} is distinct from c.{{ m.column }}
    {%- endfor %}
