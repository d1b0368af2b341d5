-- One row per item of the `identifiers` array of each request's current state:
-- the text as the agency wrote it and the type hint, if any.
with

requests as (
    -- the run's half-years (all of them but in a run of one period or a range: macros/periods.sql)
    select * from {{ ref('stg_requests__current') }}
    where {{ in_run_periods('period') }}
),

hints as (
    select * from {{ ref('identifier_hints') }}
),

items as (
    select
        request_id,
        country_code,
        received_at,
        unnest(json_extract(identifiers_json, '$[*]')) as item,
        generate_subscripts(json_extract(identifiers_json, '$[*]'), 1) as item_index
    from requests
),

typed as (
    select
        request_id,
        item_index,
        country_code,
        received_at,
        json_type(item) as item_type,
        case json_type(item)
            when 'VARCHAR' then item ->> '$'
            when 'OBJECT' then case when json_type(item, '$.value') = 'VARCHAR' then item ->> '$.value' end
        end as item_text,
        case when json_type(item) = 'OBJECT' and json_type(item, '$.type') = 'VARCHAR'
            then lower(trim(item ->> '$.type')) end as hint_text
    from items
),

final as (
    select
        -- ids
        typed.request_id,
        typed.item_index,

        -- identifier as written
        typed.item_text as raw_value,
        hints.hinted_kind,
        case
            when typed.item_type not in ('VARCHAR', 'OBJECT') then 'item is not a string or object'
            when typed.item_text is null then 'object without a string value'
            when typed.item_index > {{ var('max_identifiers_per_request') }} then 'too many identifiers'
        end as item_error,

        -- context the identifier is read in
        typed.country_code,
        typed.received_at
    from typed
    left join hints on hints.hint = typed.hint_text
)

select * from final
