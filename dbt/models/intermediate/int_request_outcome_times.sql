-- For each current request whose outcome is final, when it reached that outcome: the first
-- event with the current outcome after the last event with a different one, and the days
-- from receipt to then.
with

events as (
    select * from {{ ref('stg_requests__events') }} where is_accepted
),

requests as (
    select * from {{ ref('int_requests_counted') }}
),

outcomes as (
    select * from {{ ref('outcomes') }}
),

last_other as (
    select events.request_id, max(events.updated_at) as last_other_at
    from events
    inner join requests on requests.request_id = events.request_id
    where events.outcome <> requests.outcome
    group by events.request_id
),

reached as (
    select events.request_id, min(events.updated_at) as outcome_at
    from events
    inner join requests on requests.request_id = events.request_id
    left join last_other on last_other.request_id = events.request_id
    where events.outcome = requests.outcome
        and (last_other.last_other_at is null or events.updated_at > last_other.last_other_at)
    group by events.request_id
),

final as (
    select
        requests.request_id,
        requests.period,
        requests.country_code,
        requests.request_type,
        requests.outcome,
        reached.outcome_at,
        -- fractional days; never negative (an outcome recorded before receipt counts as 0)
        greatest(date_diff('second', requests.received_at, reached.outcome_at), 0) / 86400.0
            as days_to_outcome
    from requests
    inner join outcomes on outcomes.outcome = requests.outcome and outcomes.is_final
    inner join reached on reached.request_id = requests.request_id
)

select * from final
