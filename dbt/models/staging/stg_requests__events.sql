-- One row per raw line: the JSON fields typed and trimmed, and why the line is
-- quarantined (NULL when it is an accepted request event).
--
-- Incremental by file, like stg_requests__lines_parsed: a file's rows are kept while its parsed
-- lines, this model, the seeds it matches against, the Python text function, first_reported_day
-- and period_of are what they were (type_key); the pre-hooks forget the rows of every other file,
-- and of every file with a line whose verdict depends on the clock (in the future then, or now),
-- and renumber the files (file_index) when one was added or removed before them. So a run on a
-- drop of many half-years types only its new and changed files. The rows a build adds share a
-- number (typed_batch) greater than any before: stg_requests__current chooses again the
-- requests of the batches it has not seen.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook=["{{ forget_events_to_type_again() }}", "{{ renumber_event_files() }}"],
) }}

with

-- the key's md5 (macros/request_files.sql): written out (some 330 characters) on each of 4 M rows
-- it cost 1.6 s. The files whose rows the pre-hooks kept are typed; the others are found among
-- the names.
keyed_files as (
    {% if is_incremental() %}
    {{ events_file_keys(
        "select file_name from " ~ ref('stg_requests__lines_parsed') ~ " except select file_name from " ~ this
    ) }}
    {% else %}
    {{ events_file_keys() }}
    {% endif %}
),

parsed as (
    select lines.*, keyed_files.type_key
    from {{ ref('stg_requests__lines_parsed') }} as lines
    inner join keyed_files using (file_name)
),

files as (
    select * from {{ source('raw', 'request_files') }}
),

-- above every batch of the table and every batch stg_requests__current has seen, even after the
-- pre-hook forgot the newest
this_batch as (
    select 1 + greatest({{ events_batches_seen() }}) as typed_batch
),

country_aliases as (
    select * from {{ ref('country_aliases') }}
),

request_types as (
    select * from {{ ref('request_types') }}
),

outcomes as (
    select * from {{ ref('outcomes') }}
),

fields as (
    select parsed.*, files.file_index
    from parsed
    left join files using (file_name)
),

-- NFKC and invisible characters removed (irr_normalize_text, in Python), so full-width letters
-- and zero-width marks do not make an otherwise valid value unknown: once per distinct
-- spelling, not once per line
spellings as (
    select raw, lower(irr_normalize_text(raw)) as normalized
    from (
        select country_raw as raw from fields
        union select request_type_raw from fields
        union select outcome_raw from fields
    )
    where raw is not null
),

typed as (
    select
        fields.*,
        country_spelling.normalized as country_text,
        request_type_spelling.normalized as request_type_text,
        outcome_spelling.normalized as outcome_text,
        -- ISO 8601: date, optional time with optional fraction, then Z, an offset or nothing (= UTC)
        case when regexp_full_match(
                updated_at_text,
                '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?'
            ) then try_cast(updated_at_text as timestamptz) at time zone 'UTC'
        end as updated_at_utc,
        case when regexp_full_match(
                received_at_text,
                '\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?'
            ) then try_cast(received_at_text as timestamptz) at time zone 'UTC'
        end as received_at_utc,
        country_aliases.country_code,
        request_types.request_type,
        outcomes.outcome
    from fields
    left join spellings as country_spelling on country_spelling.raw = fields.country_raw
    left join spellings as request_type_spelling on request_type_spelling.raw = fields.request_type_raw
    left join spellings as outcome_spelling on outcome_spelling.raw = fields.outcome_raw
    left join country_aliases on country_aliases.alias = country_spelling.normalized
    left join request_types on request_types.request_type = request_type_spelling.normalized
    left join outcomes on outcomes.outcome = outcome_spelling.normalized
),

checked as (
    select
        *,
        case
            when not_read_reason is not null then not_read_reason
            when not is_valid_utf8 then 'invalid UTF-8'
            when has_nul_byte then 'NUL byte in line'
            when is_blank then 'blank line'
            when not is_json then 'invalid JSON'
            when json_kind <> 'OBJECT' then 'not a JSON object'
            when has_duplicate_key then 'duplicate key'
            when coalesce(request_id_type, 'NULL') = 'NULL' then 'missing request_id'
            when request_id_type <> 'VARCHAR' then 'request_id is not a string'
            when trim(request_id_text) = '' then 'empty request_id'
            when coalesce(updated_at_type, 'NULL') = 'NULL' then 'missing updated_at'
            when updated_at_type <> 'VARCHAR' or updated_at_utc is null then 'invalid updated_at'
            when coalesce(received_at_type, 'NULL') = 'NULL' then 'missing received_at'
            when received_at_type <> 'VARCHAR' or received_at_utc is null then 'invalid received_at'
            when received_at_utc < '{{ var("first_reported_day") }}'::timestamp
                then 'received_at before the first reported half-year'
            -- a day of slack for clocks; anything later cannot have happened yet
            when received_at_utc > now() at time zone 'UTC' + interval 1 day then 'received_at in the future'
            when updated_at_utc > now() at time zone 'UTC' + interval 1 day then 'updated_at in the future'
            when coalesce(country_type, 'NULL') = 'NULL' then 'missing country'
            when country_type <> 'VARCHAR' or country_code is null then 'unknown country'
            when coalesce(request_type_type, 'NULL') = 'NULL' then 'missing request_type'
            when request_type_type <> 'VARCHAR' or request_type is null then 'unknown request_type'
            when coalesce(outcome_type, 'NULL') = 'NULL' then 'missing outcome'
            when outcome_type <> 'VARCHAR' or outcome is null then 'unknown outcome'
            when coalesce(identifiers_type, 'NULL') = 'NULL' then 'missing identifiers'
            when identifiers_type <> 'ARRAY' then 'identifiers is not an array'
            when legal_process_type not in ('VARCHAR', 'NULL') then 'legal_process is not a string'
            when agency_type not in ('VARCHAR', 'NULL') then 'agency is not a string'
            when nondisclosure_order_type not in ('BOOLEAN', 'NULL') then 'nondisclosure_order is not true, false or null'
        end as quarantine_reason
    from typed
),

final as (
    select
        -- position in the drop
        file_name,
        file_index,
        line_number,

        -- request
        trim(request_id_text) as request_id,
        country_code,
        request_type,
        outcome,
        nullif(trim(legal_process_text), '') as legal_process,
        nullif(trim(agency_text), '') as agency,
        -- true, false, or NULL when not known (missing or null)
        case nondisclosure_order_type when 'BOOLEAN' then nondisclosure_order_text::boolean end
            as nondisclosure_order,

        -- timestamps, UTC
        updated_at_utc as updated_at,
        received_at_utc as received_at,
        -- reporting period of received_at (H1 = January to June)
        {{ period_of('received_at_utc') }} as period,

        -- identifiers, still as JSON
        identifiers_json,

        -- quality
        quarantine_reason,
        quarantine_reason is null as is_accepted,

        -- what the row was made from (the pre-hooks' key), and the build that made it
        type_key,
        (select typed_batch from this_batch) as typed_batch
    from checked
)

select * from final
