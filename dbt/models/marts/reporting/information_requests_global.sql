-- The report's global figures: one row per period, the measures summed over countries.
{%- set counts = report_metrics('information_requests') | selectattr('format', 'equalto', 'count') | list %}
with

by_country as (
    select * from {{ ref('information_requests') }}
),

accounts as (
    select * from {{ ref('information_requests_accounts') }}
),

distinct_accounts as (
    select period, sum(distinct_accounts) as distinct_accounts
    from accounts
    where {{ in_run_periods('period') }}
    group by period
),

summed as (
    select
        period,
        period_start,
        period_end,
        count(*) as countries,
        -- every count measure of information_requests (its yml meta), summed
        {%- for m in counts %}
        sum({{ m.column }}) as {{ m.column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from by_country
    where {{ in_run_periods('period') }}
    group by period, period_start, period_end
),

final as (
    select
        summed.period::varchar as period,
        period_start::date as period_start,
        period_end::date as period_end,
        countries::bigint as countries,
        {%- for m in counts %}
        {{ m.column }}::bigint as {{ m.column }},
        {%- endfor %}
        -- the rates, from the summed counts
        (legal_requests_disclosed / nullif(legal_requests, 0))::double as legal_disclosure_rate,
        (emergency_requests_disclosed / nullif(emergency_requests, 0))::double as emergency_disclosure_rate,
        (legal_accounts_specified + emergency_accounts_specified + preservation_accounts_specified)::bigint
            as accounts_specified,
        coalesce(distinct_accounts.distinct_accounts, 0)::bigint as distinct_accounts
    from summed
    left join distinct_accounts on distinct_accounts.period = summed.period
)

select * from final
order by period
