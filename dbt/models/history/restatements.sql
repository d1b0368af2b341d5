-- Each published figure that a new version changes: its old and its new value. Compared with
-- the version before, for the versions the run adds (pending until its publication is current).
{%- set measures = report_metrics('information_requests') %}
with

versions as (
    select * from {{ ref('information_requests_versions') }}
),

new_version as (
    select * from versions
    where run_id = {{ run_setting('IRR_RUN_ID') }} and not is_published
),

version_before as (
    select versions.*
    from versions
    inner join (select distinct period, version from new_version) as new_versions
        on new_versions.period = versions.period and versions.version = new_versions.version - 1
),

changed as (
    {{ changed_figures('version_before', 'new_version', measures) }}
),

final as (
    select
        changed.period::varchar as period,
        new_versions.version::integer as version,
        changed.country_code::varchar as country_code,
        changed.metric::varchar as metric,
        changed.old_value::double as old_value,
        changed.new_value::double as new_value,
        {{ run_setting('IRR_RUN_ID') }}::varchar as run_id,
        false as is_published
    from changed
    inner join (select distinct period, version from new_version) as new_versions
        on new_versions.period = changed.period
)

select * from final
order by period, version, country_code, metric
