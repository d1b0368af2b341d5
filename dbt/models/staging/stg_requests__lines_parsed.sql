-- Each request line's JSON parsed once: the fields as JSON types and texts, nothing matched or
-- judged yet (stg_requests__events does that, with the seeds and the run's clock).
--
-- Incremental by file: a file whose lines were parsed before, from the same bytes (its sha256 in
-- raw.request_files), by the same reader, version of this model and DuckDB, keeps its rows; the
-- pre-hook forgets every other file's rows, and the build parses the lines of the files it then
-- lacks. So a run on a drop of many half-years parses only new and changed files; a change to
-- this file (its checksum is in parse_key) or --full-refresh parses them all again, and as every
-- row is then forgotten, the table's columns follow the model's (sync_all_columns).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ forget_changed_request_files() }}",
) }}

{#- a lenient form's place: NaN or Infinity as a value, or a comma before a closing bracket -#}
{%- set lenient_json = "(?i)(^|[:,\\[])\\s*[-+]?(nan|inf)|,\\s*[\\]}]" %}
{#- a line of nothing but spaces: those trim() takes off -#}
{%- set blank_line = "[\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}]*" %}

with

files as (
    select
        file_name,
        {{ parse_key('files') }} as parse_key
    from {{ source('raw', 'request_files') }} as files
),

lines as (
    select lines.*, files.parse_key
    from {{ source('raw', 'request_lines') }} as lines
    left join files using (file_name)
    {% if is_incremental() %}
    -- the files whose rows the pre-hook kept are up to date. The others are found among the
    -- names first: a run with nothing new then reads no line (a NOT IN on the lines read every
    -- line's text to keep none, 0.3 s alone at 4 M lines)
    where lines.file_name in (
        select file_name from {{ source('raw', 'request_lines') }}
        except
        select file_name from {{ this }}
    )
    {% endif %}
),

parsed as (
    select
        file_name,
        parse_key,
        line_number,
        is_valid_utf8,
        has_nul_byte,
        not_read_reason,
        -- trim(line_text) = '' without a trimmed copy of every line: DuckDB's trim takes off
        -- exactly these spaces (Unicode's Zs), checked over every code point
        -- (tests/test_properties.py)
        regexp_full_match(line_text, '{{ blank_line }}') as is_blank,
        -- DuckDB's reader also takes what is not JSON (RFC 8259): NaN or Infinity (any case,
        -- signed) as a value, a comma before a closing bracket. A line that may hold one (a value
        -- follows a colon, a comma, an opening bracket or nothing) is looked at again with its
        -- strings emptied, so that such words inside a string are no fault. Written here, not in
        -- a macro, so that a change is in parse_key.
        case
            when json_valid(line_text) and regexp_matches(line_text, '{{ lenient_json }}')
                then not regexp_matches(
                    regexp_replace(line_text, '"([^"\\]|\\.)*"', '""', 'g'), '{{ lenient_json }}')
            else json_valid(line_text)
        end as is_json,
        -- the JSON functions read the text itself: a cast to JSON would parse and copy each line
        case when json_valid(line_text) then json_type(line_text) end as json_kind,
        case when json_valid(line_text) and json_type(line_text) = 'OBJECT' then line_text end as doc
    from lines
),

keyed as (
    select
        * exclude (doc_keys),
        -- JSON parsers disagree on which value of a repeated key wins: such a line is refused
        len(doc_keys) <> len(list_distinct(doc_keys)) as has_duplicate_key
    -- the keys listed once (named twice, they were listed twice: 40.4 s to 36.7 s at 4 M lines)
    from (select *, json_keys(doc) as doc_keys from parsed)
),

-- every field in one pass over the document (a path each would parse it again each time)
extracted as (
    select
        *,
        json_extract(doc, [
            '$.request_id', '$.updated_at', '$.received_at', '$.country', '$.request_type',
            '$.outcome', '$.legal_process', '$.agency', '$.nondisclosure_order', '$.identifiers'
        ]) as v
    from keyed
),

fields as (
    select
        * exclude (v),
        -- json_type is NULL for a missing key and 'NULL' for an explicit null
        json_type(v[1]) as request_id_type,
        json_type(v[2]) as updated_at_type,
        json_type(v[3]) as received_at_type,
        json_type(v[4]) as country_type,
        json_type(v[5]) as request_type_type,
        json_type(v[6]) as outcome_type,
        json_type(v[7]) as legal_process_type,
        json_type(v[8]) as agency_type,
        json_type(v[9]) as nondisclosure_order_type,
        json_type(v[10]) as identifiers_type,
        v[1] ->> '$' as request_id_text,
        trim(v[2] ->> '$') as updated_at_text,
        trim(v[3] ->> '$') as received_at_text,
        v[4] ->> '$' as country_raw,
        v[5] ->> '$' as request_type_raw,
        v[6] ->> '$' as outcome_raw,
        v[10] as identifiers_json,
        v[7] ->> '$' as legal_process_text,
        v[8] ->> '$' as agency_text,
        v[9] ->> '$' as nondisclosure_order_text
    from extracted
),

final as (
    select * exclude (doc) from fields
)

select * from final
