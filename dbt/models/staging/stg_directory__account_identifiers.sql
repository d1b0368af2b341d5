-- Directory rows: which account held which canonical email, phone or username, and when.
-- A view, not a table: the directory is the input that grows (10^8 rows and more), and it is read
-- where it lies, twice per run: once whole for its checks (int_directory_profile, which reads the
-- raw rows with this view's macros), once for the rows the requests name (int_directory_named).
-- It is never written again. As a view it parses
-- the times when it is queried, in the session's TimeZone for a time written without an offset:
-- every run's session is UTC (dbt_plugin.py); a query by hand should `set TimeZone = 'UTC'` too.
{{ config(materialized='view') }}

with

source as (
    select * from {{ source('raw', 'account_identifiers') }}
),

renamed as (
    select
        -- ids: the raw load let only strings of digits through (raw_drop.py), nothing to trim
        account_id,

        -- identifier: canonical in the directory (CONTRACT 1.3), made so below where it is not
        {{ directory_type('identifier_type') }} as identifier_type,
        -- int_directory_profile counts the values that are NULL on the raw column: a rule that
        -- makes a written value NULL here (an empty one, say) must be made there too (a property
        -- test, tests/test_properties.py, compares the two on hostile rows)
        identifier_value as identifier_value_as_written,

        -- validity interval [valid_from, valid_to), NULL = open-ended, UTC
        {{ directory_time_text('valid_from') }} as valid_from_text,
        {{ directory_time_text('valid_to') }} as valid_to_text,
        {{ directory_time('valid_from') }} as valid_from,
        {{ directory_time('valid_to') }} as valid_to
    from source
),

final as (
    select
        account_id,
        identifier_type,
        -- trimmed; usernames and emails compare case-insensitively
        {{ directory_value('identifier_type', 'identifier_value_as_written') }} as identifier_value,
        -- what int_directory_named compares when every value is written canonically (its profile
        -- says so): a semi-join on the column itself, without directory_value on every row
        identifier_value_as_written,
        valid_from,
        valid_to,
        valid_from_text,
        valid_to_text,
        -- a reversed interval is never valid; it is kept for the data-quality account
        {{ directory_interval_ordered('valid_from', 'valid_to') }} as is_interval_ordered
    from renamed
)

select * from final
