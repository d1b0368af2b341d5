-- Change from the previous half-year, per period and country: requests and disclosure rates
-- beside those of the half-year before (none when the country made no request then).
-- Rebuilt whole on every run (a table), so that a restated period changes the next one's
-- comparison too.
{{ config(materialized='table') }}
with

report as (
    select * from {{ ref('information_requests') }}
),

paired as (
    select
        current_period.period,
        current_period.country_code,
        current_period.country_name,
        previous_period.period as previous_period,
        current_period.total_requests,
        previous_period.total_requests as previous_total_requests,
        current_period.legal_disclosure_rate,
        previous_period.legal_disclosure_rate as previous_legal_disclosure_rate,
        current_period.emergency_disclosure_rate,
        previous_period.emergency_disclosure_rate as previous_emergency_disclosure_rate
    from report as current_period
    left join report as previous_period
        on previous_period.country_code = current_period.country_code
        and previous_period.period = {{ previous_period('current_period.period') }}
),

final as (
    select
        period::varchar as period,
        country_code::varchar as country_code,
        country_name::varchar as country_name,
        previous_period::varchar as previous_period,
        total_requests::bigint as total_requests,
        previous_total_requests::bigint as previous_total_requests,
        (total_requests - previous_total_requests)::bigint as total_requests_change,
        ((total_requests - previous_total_requests) / nullif(previous_total_requests, 0))::double
            as total_requests_change_share,
        (legal_disclosure_rate - previous_legal_disclosure_rate)::double as legal_disclosure_rate_change,
        (emergency_disclosure_rate - previous_emergency_disclosure_rate)::double as emergency_disclosure_rate_change
    from paired
)

select * from final
order by period, country_code
