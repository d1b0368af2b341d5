-- The current state of each request: among its accepted events, the one with the
-- greatest updated_at; on a tie the one that comes last (files by name, then lines).
--
-- Incremental by request: the pre-hook forgets the requests with an event typed since the last
-- build (stg_requests__events' typed_batch above every one this table has seen) and those whose
-- chosen event's file was typed again or is gone (and every request after a change to this
-- file: chosen_by); the build chooses for every request with an accepted event and no row. The
-- other requests keep their row: their events are the same, and files added or removed
-- elsewhere do not change the order of theirs.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ forget_current_requests_to_choose_again() }}",
) }}

with

events as (
    select * from {{ ref('stg_requests__events') }}
),

accepted as (
    select * from events
    where is_accepted
    {% if is_incremental() %}
        and request_id in (
            -- the table, not the CTE: a CTE named twice is materialised whole
            select request_id from {{ ref('stg_requests__events') }} where is_accepted
            except
            select request_id from {{ this }}
        )
    {% endif %}
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
        line_number,
        typed_batch,

        -- the greatest batch of stg_requests__events when the row was chosen, and by which
        -- version of this model (the pre-hook chooses every request again after a change)
        (select max(typed_batch) from {{ ref('stg_requests__events') }}) as events_batch_seen,
        '{{ model.checksum.checksum }}' as chosen_by
    from ranked
    where recency_rank = 1
)

select * from final
