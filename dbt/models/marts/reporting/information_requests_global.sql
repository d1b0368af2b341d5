-- The report's global figures: one row per period, the measures summed over countries.
with

by_country as (
    select * from {{ ref('information_requests') }}
),

summed as (
    select
        period,
        period_start,
        period_end,
        count(*) as countries,
        sum(legal_requests) as legal_requests,
        sum(emergency_requests) as emergency_requests,
        sum(preservation_requests) as preservation_requests,
        sum(total_requests) as total_requests,
        sum(legal_requests_disclosed) as legal_requests_disclosed,
        sum(emergency_requests_disclosed) as emergency_requests_disclosed,
        sum(legal_accounts_specified) as legal_accounts_specified,
        sum(emergency_accounts_specified) as emergency_accounts_specified,
        sum(preservation_accounts_specified) as preservation_accounts_specified,
        sum(legal_requests_nondisclosure_order) as legal_requests_nondisclosure_order
    from by_country
    where {{ in_run_periods('period') }}
    group by period, period_start, period_end
),

final as (
    select
        period::varchar as period,
        period_start::date as period_start,
        period_end::date as period_end,
        countries::bigint as countries,
        legal_requests::bigint as legal_requests,
        emergency_requests::bigint as emergency_requests,
        preservation_requests::bigint as preservation_requests,
        total_requests::bigint as total_requests,
        legal_requests_disclosed::bigint as legal_requests_disclosed,
        emergency_requests_disclosed::bigint as emergency_requests_disclosed,
        (legal_requests_disclosed / nullif(legal_requests, 0))::double as legal_disclosure_rate,
        (emergency_requests_disclosed / nullif(emergency_requests, 0))::double as emergency_disclosure_rate,
        legal_accounts_specified::bigint as legal_accounts_specified,
        emergency_accounts_specified::bigint as emergency_accounts_specified,
        preservation_accounts_specified::bigint as preservation_accounts_specified,
        legal_requests_nondisclosure_order::bigint as legal_requests_nondisclosure_order
    from summed
)

select * from final
order by period
