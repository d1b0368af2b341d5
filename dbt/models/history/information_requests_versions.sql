-- reporting.information_requests as published in each version of a period. A run gives a
-- period a new version when a figure its last version published changed, or when the period
-- has none yet; a period whose figures are unchanged keeps its version (no row here).
-- A measure added to the report since a version is NULL in it.
{%- set measures = report_metrics('information_requests') %}
{%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | list if is_incremental() else none %}
with

figures as (
    select * from {{ ref('information_requests') }}
    where {{ in_run_periods('period') }}
),

last_version as (
    {%- if is_incremental() %}
    -- the pre-hooks left published versions only
    select * from {{ this }}
    where {{ in_run_periods('period') }}
    qualify version = max(version) over (partition by period)
    {%- else %}
    select 0::integer as version, * from figures where false
    {%- endif %}
),

changed as (
    {{ changed_figures('last_version', 'figures', measures, stored) }}
),

versions as (
    select period, max(version) as version
    from last_version
    group by period
),

final as (
    select
        (coalesce(versions.version, 0) + 1)::integer as version,
        {{ run_setting('IRR_RUN_ID') }}::varchar as run_id,
        false as is_published,
        figures.*
    from figures
    left join versions on versions.period = figures.period
    -- a dbt build by hand (no run) adds no version
    where {{ run_setting('IRR_RUN_ID') }} <> ''
        and (versions.version is null or figures.period in (select period from changed))
)

select * from final
order by period, country_code
