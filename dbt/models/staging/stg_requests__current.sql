-- The current state of each request: among its accepted events, the one with the
-- greatest updated_at; on a tie the one that comes last (files by name, then lines).
with

events as (
    select * from {{ ref('stg_requests__events') }}
),

accepted as (
    select * from events where is_accepted
),

ranked as (
    select
        *,
        row_number() over (
            partition by request_id
            order by updated_at desc, file_index desc, line_number desc
        ) as recency_rank
    from accepted
),

final as (
    select
        -- ids
        request_id,

        -- request
        country_code,
        request_type,
        outcome,
        legal_process,
        agency,
        nondisclosure_order,
        identifiers_json,

        -- timestamps, UTC
        received_at,
        updated_at,

        period,

        -- provenance of the chosen event
        file_name,
        line_number
    from ranked
    where recency_rank = 1
)

select * from final
