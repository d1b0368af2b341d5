-- How long requests took: per period and request type, the median days from receipt to
-- the final outcome, over requests whose current outcome is final (not pending).
with

times as (
    select * from {{ ref('int_request_outcome_times') }}
),

final as (
    select
        period::varchar as period,
        request_type::varchar as request_type,
        count(*)::bigint as requests_with_final_outcome,
        round(median(days_to_outcome), 1)::double as median_days_to_outcome
    from times
    where {{ in_run_periods('period') }}
    group by period, request_type
)

select * from final
order by period, request_type
