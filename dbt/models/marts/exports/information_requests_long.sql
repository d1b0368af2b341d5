-- The public export in the long format the public reports are downloaded in (CONTRACT 3.2):
-- one row per period, location and metric, numbered in the published order (countries by
-- name, then the global rows). The metrics, their names and order come from the measures'
-- meta in reporting.yml; Python writes these rows as they are.
{%- set country_metrics = report_metrics('information_requests', 'export') %}
{%- set global_metrics = report_metrics('information_requests_global', 'export_global') %}
with

countries as (
    select * from {{ ref('information_requests') }}
    where {{ in_run_periods('period') }}
),

world as (
    select * from {{ ref('information_requests_global') }}
    where {{ in_run_periods('period') }}
),

metrics as (
    {%- for m in country_metrics %}
    select
        period, 1 as section, country_name as location_order, country_code as code_order,
        {{ loop.index }} as metric_order, 'country_name' as location, country_name as location_value,
        '{{ m.metric }}' as metric_name, '{{ m.column }}' as measure, {{ m.column }}::double as value
    from countries
    union all
    {%- endfor %}
    {%- for m in global_metrics %}
    select
        period, 2, '', '', {{ loop.index }}, 'all', 'All', '{{ m.metric }}', '{{ m.column }}', {{ m.column }}::double
    from world
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        period::varchar as report_period,
        row_number() over (
            partition by period order by section, location_order, code_order, metric_order
        )::bigint as row_in_period,
        ''::varchar as replication_info,
        'LIGR'::varchar as entity,
        'LRFUI'::varchar as aspect,
        metric_name::varchar as metric_name,
        'half-year'::varchar as period,
        ({{ period_value('period') }})::varchar as period_value,
        'all'::varchar as policy,
        'all'::varchar as policy_value,
        'all'::varchar as task,
        'all'::varchar as task_value,
        location::varchar as location,
        location_value::varchar as location_value,
        -- a fraction or a count as a float; 0.0 when there were no requests of the type
        coalesce(value, 0)::double::varchar as result,
        ''::varchar as base,
        ''::varchar as date,
        -- what the row counts, for the small-count protection of the public file (not written)
        nullif(code_order, '')::varchar as country_code,
        measure::varchar as measure
    from metrics
)

select * from final
order by report_period, row_in_period
