-- Distinct accounts named across all requests of a country and period: an account named in
-- five requests counts once here (accounts specified, per request, would count it five times).
with

requests as (
    select * from {{ ref('int_requests_counted') }}
),

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

countries as (
    select * from {{ ref('countries') }}
),

named as (
    select requests.period, requests.country_code, resolved.kind, resolved.canonical_value, resolved.account_id
    from resolved
    inner join requests on requests.request_id = resolved.request_id
    where {{ in_run_periods('requests.period') }}
),

accounts as (
    select period, country_code, count(distinct account_id) as distinct_accounts
    from named
    group by period, country_code
),

unresolved as (
    select period, country_code, count(*) as distinct_unresolved_identifiers
    from (
        select period, country_code, kind, canonical_value
        from named
        group by all
        having count(account_id) = 0
    )
    group by period, country_code
),

per_country as (
    select period, country_code, sum(accounts_specified) as accounts_specified
    from requests
    where {{ in_run_periods('period') }}
    group by period, country_code
),

final as (
    select
        per_country.period::varchar as period,
        per_country.country_code::varchar as country_code,
        countries.country_name::varchar as country_name,
        per_country.accounts_specified::bigint as accounts_specified,
        coalesce(accounts.distinct_accounts, 0)::bigint as distinct_accounts,
        coalesce(unresolved.distinct_unresolved_identifiers, 0)::bigint as distinct_unresolved_identifiers
    from per_country
    inner join countries on countries.country_code = per_country.country_code
    left join accounts
        on accounts.period = per_country.period and accounts.country_code = per_country.country_code
    left join unresolved
        on unresolved.period = per_country.period and unresolved.country_code = per_country.country_code
)

select * from final
order by period, country_code
