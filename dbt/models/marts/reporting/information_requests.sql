-- The report: one row per (period, country) with at least one request.
with

requests as (
    select * from {{ ref('int_requests_counted') }}
),

countries as (
    select * from {{ ref('countries') }}
),

per_country as (
    select
        period,
        country_code,
        count(*) filter (where request_type = 'legal') as legal_requests,
        count(*) filter (where request_type = 'emergency') as emergency_requests,
        count(*) filter (where request_type = 'preservation') as preservation_requests,
        count(*) as total_requests,
        count(*) filter (where request_type = 'legal' and is_disclosed) as legal_requests_disclosed,
        count(*) filter (where request_type = 'emergency' and is_disclosed) as emergency_requests_disclosed,
        coalesce(sum(accounts_specified) filter (where request_type = 'legal'), 0)
            as legal_accounts_specified,
        coalesce(sum(accounts_specified) filter (where request_type = 'emergency'), 0)
            as emergency_accounts_specified,
        coalesce(sum(accounts_specified) filter (where request_type = 'preservation'), 0)
            as preservation_accounts_specified,
        count(*) filter (where request_type = 'legal' and has_nondisclosure_order)
            as legal_requests_nondisclosure_order
    from requests
    where {{ in_run_periods('period') }}
    group by period, country_code
),

final as (
    select
        per_country.period::varchar as period,
        {{ period_start('per_country.period') }} as period_start,
        {{ period_end('per_country.period') }} as period_end,
        per_country.country_code::varchar as country_code,
        countries.country_name::varchar as country_name,
        per_country.legal_requests::bigint as legal_requests,
        per_country.emergency_requests::bigint as emergency_requests,
        per_country.preservation_requests::bigint as preservation_requests,
        per_country.total_requests::bigint as total_requests,
        per_country.legal_requests_disclosed::bigint as legal_requests_disclosed,
        per_country.emergency_requests_disclosed::bigint as emergency_requests_disclosed,
        (per_country.legal_requests_disclosed / nullif(per_country.legal_requests, 0))::double
            as legal_disclosure_rate,
        (per_country.emergency_requests_disclosed / nullif(per_country.emergency_requests, 0))::double
            as emergency_disclosure_rate,
        per_country.legal_accounts_specified::bigint as legal_accounts_specified,
        per_country.emergency_accounts_specified::bigint as emergency_accounts_specified,
        per_country.preservation_accounts_specified::bigint as preservation_accounts_specified,
        per_country.legal_requests_nondisclosure_order::bigint as legal_requests_nondisclosure_order
    from per_country
    inner join countries on countries.country_code = per_country.country_code
)

select * from final
order by period, country_code
