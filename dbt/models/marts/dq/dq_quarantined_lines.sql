-- Lines of the request files that are not accepted request events, with the reason.
with

events as (
    select * from {{ ref('stg_requests__events') }}
),

final as (
    select
        file_name,
        line_number,
        quarantine_reason
    from events
    where not is_accepted
)

select * from final
order by file_name, line_number
