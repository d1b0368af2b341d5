-- Requests by outcome over every country: per period and request type, each of the six
-- outcomes with its two shares (of all the type's requests; of those with a final outcome).
with

by_country as (
    select * from {{ ref('information_requests_by_outcome') }}
    where {{ in_run_periods('period') }}
),

outcomes as (
    select * from {{ ref('outcomes') }}
),

summed as (
    select
        period,
        request_type,
        outcome,
        sum(requests) as requests,
        sum(accounts_specified) as accounts_specified
    from by_country
    group by period, request_type, outcome
),

per_type as (
    select
        period,
        request_type,
        sum(requests) as type_requests,
        sum(requests) filter (where outcome <> 'pending') as type_requests_final
    from summed
    group by period, request_type
),

final as (
    select
        summed.period::varchar as period,
        summed.request_type::varchar as request_type,
        summed.outcome::varchar as outcome,
        summed.requests::bigint as requests,
        summed.accounts_specified::bigint as accounts_specified,
        (summed.requests / per_type.type_requests)::double as share_of_requests,
        case when outcomes.is_final
            then summed.requests / nullif(per_type.type_requests_final, 0)
        end::double as share_of_final_requests
    from summed
    inner join per_type on per_type.period = summed.period and per_type.request_type = summed.request_type
    inner join outcomes on outcomes.outcome = summed.outcome
)

select * from final
order by period, request_type, outcome
