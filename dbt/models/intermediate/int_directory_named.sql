-- The directory rows that the requests name: the rows for the canonical emails, phones and
-- usernames (and the usernames in video URLs) that requests name, and the rows of the accounts
-- that user ids name; a reversed interval was never valid (CONTRACT 1.3) and is left out.
-- One scan of the directory with a semi-join on at most a few hundred thousand keys: what the
-- resolution reads follows the requests, not the directory's size. This list of keys is the
-- interface to a directory kept elsewhere (README, "At larger scale").
-- Built after the whole directory's checks (int_directory_profile's tests): a directory that
-- fails them resolves nothing, and nothing downstream is rebuilt from it.
-- depends_on: {{ ref('int_directory_profile') }}
--
-- The values are compared as written when the profile found every one written canonically (as
-- CONTRACT 1.3 says they are): DuckDB then matches on the column itself and filters the scan with
-- the keys. Otherwise each value is made canonical first (directory_value, on every row).
{%- set as_written = directory_values_are_canonical() %}
with

identifiers as (
    select * from {{ ref('int_identifiers_links_followed') }} where is_valid
),

-- the columns the semi-join needs, and the times as written: they are parsed for the rows that
-- match, not for every row of the directory (at 100 M rows, parsing them all cost more than the
-- match itself)
directory as (
    select account_id, identifier_type, identifier_value_as_written, valid_from_text, valid_to_text
    from {{ ref('stg_directory__account_identifiers') }}
),

-- every (type, value) the resolution may look up: a superset (a video's path username is looked
-- up only when the video is unknown; int_identifiers_resolved decides)
named_values as (
    select distinct kind as identifier_type, canonical_value as identifier_value
    from identifiers
    where kind in ('email', 'phone', 'username')
    union
    select distinct 'username', path_username
    from identifiers
    where kind = 'video' and path_username is not null
),

named_user_ids as (
    select distinct canonical_value as account_id from identifiers where kind = 'user_id'
),

-- materialized: else DuckDB pushes the interval filter below the match, into the scan
matched as materialized (
    select *
    from directory
    where (identifier_type, {{ 'identifier_value_as_written' if as_written
            else directory_value('identifier_type', 'identifier_value_as_written') }})
            in (select * from named_values)
        or account_id in (select * from named_user_ids)
),

timed as (
    select
        account_id,
        identifier_type,
        -- as the view makes it, for the few rows matched (the same text when written canonically)
        {{ directory_value('identifier_type', 'identifier_value_as_written') }} as identifier_value,
        {{ directory_time_of_text('valid_from_text') }} as valid_from,
        {{ directory_time_of_text('valid_to_text') }} as valid_to,
        valid_from_text,
        valid_to_text
    from matched
),

final as (
    select *, true as is_interval_ordered
    from timed
    where {{ directory_interval_ordered('valid_from', 'valid_to') }}
)

select * from final
