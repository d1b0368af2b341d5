-- The whole directory in one row of counts, from one scan: its checks (intermediate.yml), the
-- data-quality account and the match (int_directory_named) read these counts, so the directory is
-- scanned whole once for all of them.
--
-- It reads the raw rows, not the staging view: the view trims every identifier value and
-- lower-cases emails and usernames, and a text is NULL after that exactly when it was NULL
-- before, so the null checks need none of it (at 100 M rows: 23.4 s through the view, 6.3 s so,
-- alone). Types and times are read by the view's own macros (macros/directory.sql); a change to
-- the view that makes a written value or account id NULL must be made here too: a property test
-- (tests/test_properties.py) compares this model's counts with the view's on hostile rows.
with

source as (
    select * from {{ source('raw', 'account_identifiers') }}
),

directory as (
    select
        account_id,
        {{ directory_type('identifier_type') }} as identifier_type,
        identifier_value,
        {{ directory_time_text('valid_from') }} as valid_from_text,
        {{ directory_time_text('valid_to') }} as valid_to_text,
        {{ directory_time('valid_from') }} as valid_from,
        {{ directory_time('valid_to') }} as valid_to
    from source
),

final as (
    select
        count(*) as directory_rows,
        count(*) filter (where account_id is null) as rows_without_account_id,
        count(*) filter (where identifier_type is null
            or identifier_type not in ('email', 'phone', 'username')) as rows_with_unknown_type,
        count(*) filter (where identifier_value is null) as rows_without_value,
        count(*) filter (where (valid_from_text is not null and valid_from is null)
            or (valid_to_text is not null and valid_to is null)) as rows_with_unreadable_time,
        count(*) filter (where not {{ directory_interval_ordered('valid_from', 'valid_to') }})
            as rows_with_reversed_interval,
        -- none: int_directory_named compares the values as written, a semi-join on the column
        -- itself (at 20 M rows, in a run: 1.0 s against 2.0 s through directory_value on every
        -- row; this count costs about 0.6 s here, beside the parsing of the request lines)
        count(*) filter (where {{ directory_value_may_change('identifier_value') }})
            as rows_with_value_maybe_not_canonical,
        -- the dbt invocation that counted: int_directory_named trusts only counts of its own
        -- invocation (a build of it alone, from the UI, may follow a new directory)
        '{{ invocation_id }}' as dbt_invocation_id
    from directory
)

select * from final
