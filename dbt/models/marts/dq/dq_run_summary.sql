-- The run's data-quality account as (section, item, value) rows; no identifiers.
with

lines as (
    select * from {{ source('raw', 'request_lines') }}
),

events as (
    select * from {{ ref('stg_requests__events') }}
),

requests as (
    select * from {{ ref('int_requests_counted') }}
),

identifiers as (
    select * from {{ ref('int_identifiers_links_followed') }}
),

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

directory as (
    select * from {{ ref('int_directory_profile') }}
),

unresolved as (
    select kind, count(*) as n
    from (
        select request_id, kind, canonical_value
        from resolved
        group by all
        having count(account_id) = 0
    )
    group by kind
),

rows as (
    select 'lines read' as section, file_name as item, count(*) as value from lines group by file_name
    union all
    select 'lines', 'read', count(*) from lines
    union all
    select 'lines', 'accepted', count(*) from events where is_accepted
    union all
    select 'lines', 'quarantined', count(*) from events where not is_accepted
    union all
    select 'lines quarantined', quarantine_reason, count(*) from events where not is_accepted group by all
    union all
    select 'requests', 'current', count(*) from requests
    union all
    select 'requests', 'superseded events', (select count(*) from events where is_accepted) - count(*) from requests
    union all
    select 'requests', 'with no valid identifier', count(*) from requests where identifiers_valid = 0
    union all
    select 'requests by outcome', outcome, count(*) from requests group by all
    union all
    select 'identifiers by kind', coalesce(kind, 'invalid'), count(*) from identifiers group by all
    union all
    select 'identifiers by form', surface_form, count(*) from identifiers where is_valid group by all
    union all
    select 'invalid identifiers', invalid_reason, count(*) from identifiers where not is_valid group by all
    union all
    -- a surge of these in a new drop shows a form the classification may be misreading
    select 'identifiers read as IP addresses, by country', coalesce(country_code, 'unknown'), count(*)
    from identifiers where invalid_reason = 'IP address' group by all
    union all
    select 'unresolved identifiers', kind, n from unresolved
    union all
    select 'directory', 'rows with a reversed validity interval (ignored)', rows_with_reversed_interval
    from directory
    union all
    -- 0 for a directory written canonically, as CONTRACT 1.3 says: the match then compares the
    -- values as written; any other count makes it slower, never changes a figure (int_directory_named)
    select 'directory', 'rows whose value may not be canonical (any: every value is made canonical '
        || 'before the match, slower, the same figures)', rows_with_value_maybe_not_canonical
    from directory
)

select section, item, value::bigint as value from rows
order by section, item
