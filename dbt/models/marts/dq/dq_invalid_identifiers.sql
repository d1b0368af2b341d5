-- Identifiers of current requests that count for nothing, with the reason. The text
-- itself is not repeated here: it stays in the raw lines (file and line locate it).
with

identifiers as (
    select * from {{ ref('int_identifiers_links_followed') }}
),

requests as (
    select * from {{ ref('stg_requests__current') }}
),

final as (
    select
        requests.period,
        identifiers.request_id,
        requests.file_name,
        requests.line_number,
        identifiers.item_index,
        identifiers.invalid_reason
    from identifiers
    inner join requests on requests.request_id = identifiers.request_id
    where not identifiers.is_valid
)

select * from final
order by file_name, line_number, item_index
