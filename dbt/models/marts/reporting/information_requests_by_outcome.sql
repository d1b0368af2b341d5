-- Requests by outcome: per period, country and request type, each of the six outcomes
-- (zero included, so that every type a country used shows all six), with the accounts its
-- requests specified and two shares: of all the type's requests, and of those with a final
-- outcome (pending left out, as some public reports compute their rates).
with

requests as (
    select * from {{ ref('int_requests_counted') }}
    where {{ in_run_periods('period') }}
),

outcomes as (
    select * from {{ ref('outcomes') }}
),

countries as (
    select * from {{ ref('countries') }}
),

types_used as (
    select
        period,
        country_code,
        request_type,
        count(*) as type_requests,
        count(*) filter (where outcome <> 'pending') as type_requests_final
    from requests
    group by period, country_code, request_type
),

per_outcome as (
    select
        period,
        country_code,
        request_type,
        outcome,
        count(*) as requests,
        sum(accounts_specified) as accounts_specified
    from requests
    group by period, country_code, request_type, outcome
),

grid as (
    select types_used.*, outcomes.outcome, outcomes.is_disclosed, outcomes.is_final
    from types_used
    cross join outcomes
),

final as (
    select
        grid.period::varchar as period,
        grid.country_code::varchar as country_code,
        countries.country_name::varchar as country_name,
        grid.request_type::varchar as request_type,
        grid.outcome::varchar as outcome,
        coalesce(per_outcome.requests, 0)::bigint as requests,
        coalesce(per_outcome.accounts_specified, 0)::bigint as accounts_specified,
        (coalesce(per_outcome.requests, 0) / grid.type_requests)::double as share_of_requests,
        case when grid.is_final
            then coalesce(per_outcome.requests, 0) / nullif(grid.type_requests_final, 0)
        end::double as share_of_final_requests
    from grid
    inner join countries on countries.country_code = grid.country_code
    left join per_outcome
        on per_outcome.period = grid.period
        and per_outcome.country_code = grid.country_code
        and per_outcome.request_type = grid.request_type
        and per_outcome.outcome = grid.outcome
)

select * from final
order by period, country_code, request_type, outcome
