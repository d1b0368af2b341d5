{#- What a file's parsed lines (stg_requests__lines_parsed) were made from: the file's bytes, the
    reader that split them into lines, this version of the parsing model and DuckDB's version.
    NULL for an entry that was not read. -#}
{% macro parse_key(files) -%}
{{ files }}.sha256 || ':' || {{ files }}.reader_version || ':{{ model.checksum.checksum }}:' || version()
{%- endmacro %}

{#- stg_requests__lines_parsed's pre-hook: forget the rows of every file whose parse_key is not the
    one it would have now: files changed, removed, never read (a symbolic link, a broken gzip),
    or loaded by another reader, and every file after a change to the model or to DuckDB. -#}
{% macro forget_changed_request_files() -%}
{%- if is_incremental() -%}
delete from {{ this }} as parsed
where not exists (
    select 1 from {{ source('raw', 'request_files') }} as files
    where files.file_name = parsed.file_name and {{ parse_key('files') }} = parsed.parse_key
)
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#- What stg_requests__events' rows of a file are made from besides its parsed lines (whose
    parse_key comes first in type_key): this version of the model, period_of and
    first_reported_day as they compile, the Python functions' code and Unicode tables
    (irr_functions_version), the session's time zone (a time without an offset is read in it),
    and the seeds the fields are matched against, row by row. -#}
{% macro events_type_key() -%}
'{{ model.checksum.checksum }}:{{ local_md5(period_of("received_at_utc") ~ var("first_reported_day")) }}:'
    || irr_functions_version() || ':' || current_setting('TimeZone') || ':'
    || (
        select md5(string_agg(row_text, '|' order by row_text))
        from (
            select 'country_aliases ' || seed::varchar as row_text from {{ ref('country_aliases') }} as seed
            union all
            select 'request_types ' || seed::varchar from {{ ref('request_types') }} as seed
            union all
            select 'outcomes ' || seed::varchar from {{ ref('outcomes') }} as seed
        )
    )
{%- endmacro %}

{#- The type_key of each file of stg_requests__lines_parsed (of those `only_files` selects, when
    given): the md5 of its parse_key and events_type_key(), which is computed once. -#}
{% macro events_file_keys(only_files=none) -%}
select files.file_name, md5(files.parse_key || ':' || type_key.suffix) as type_key
from (
    select distinct file_name, parse_key
    from {{ ref('stg_requests__lines_parsed') }}
    {%- if only_files is not none %}
    where file_name in ({{ only_files }})
    {%- endif %}
) as files
cross join (select {{ events_type_key() }} as suffix) as type_key
{%- endmacro %}

{#- The lower-case names of a relation's columns. -#}
{% macro column_names(relation) -%}
{{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{#- stg_requests__events' first pre-hook: forget the rows of every file whose type_key is not the
    one it would have now (its lines parsed again, gone, or typed with other seeds, code or
    settings), and of every file with a line whose verdict depends on the clock: quarantined as
    in the future, or with a time that is in the future now (a clock set back). A table of an
    earlier irr, without type_key, is emptied. -#}
{% macro forget_events_to_type_again() -%}
{%- if is_incremental() -%}
{%- set columns = column_names(this) -%}
{%- if 'type_key' not in columns -%}
delete from {{ this }}
{%- else -%}
delete from {{ this }}
where file_name in (
    select file_name
    from (select distinct file_name, type_key from {{ this }}) as typed
    where not exists (
        select 1
        from ({{ events_file_keys() }}) as wanted
        where wanted.file_name = typed.file_name and wanted.type_key = typed.type_key
    )
    union
    select file_name
    from {{ this }}
    where quarantine_reason in ('received_at in the future', 'updated_at in the future')
        or received_at > now() at time zone 'UTC' + interval 1 day
        or updated_at > now() at time zone 'UTC' + interval 1 day
)
{%- endif -%}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#- stg_requests__events' second pre-hook: the kept rows take their file's position among the
    drop's files now (a file added or removed before it moves it). -#}
{% macro renumber_event_files() -%}
{%- if is_incremental() and 'file_index' in column_names(this) -%}
update {{ this }} as events
set file_index = files.file_index
from {{ source('raw', 'request_files') }} as files
where files.file_name = events.file_name and events.file_index is distinct from files.file_index
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#- The batch numbers stg_requests__events' next rows must exceed, as a list of SQL expressions:
    the greatest in the table (once it has the column) and the greatest that stg_requests__current
    has seen (read by name: current is built from events, not the other way round). -#}
{% macro events_batches_seen() -%}
0
{%- if execute -%}
{%- if is_incremental() and 'typed_batch' in column_names(this) %},
    coalesce((select max(typed_batch) from {{ this }}), 0)
{%- endif -%}
{%- set current = adapter.get_relation(database=this.database, schema=this.schema, identifier='stg_requests__current') -%}
{%- if current is not none and 'events_batch_seen' in column_names(current) %},
    coalesce((select max(events_batch_seen) from {{ current }}), 0)
{%- endif -%}
{%- endif -%}
{%- endmacro %}

{#- stg_requests__current's pre-hook: forget the requests to choose again. Those with an accepted
    event typed since the table's last build (a batch above every one it has seen), those
    whose chosen event's file was typed again or is gone, and all of them after a change to the
    model (its checksum, chosen_by). The model then chooses for every request with an accepted
    event and no row. A table of an earlier irr is emptied. -#}
{% macro forget_current_requests_to_choose_again() -%}
{%- if is_incremental() and execute -%}
{%- set columns = column_names(this) -%}
{%- if 'events_batch_seen' not in columns or 'chosen_by' not in columns -%}
delete from {{ this }}
{%- else -%}
delete from {{ this }} as chosen
where chosen.request_id in (
        select request_id
        from {{ ref('stg_requests__events') }}
        where is_accepted
            and typed_batch > (select coalesce(max(events_batch_seen), 0) from {{ this }})
    )
    or not exists (
        select 1
        from (select distinct file_name, typed_batch from {{ ref('stg_requests__events') }}) as typed
        where typed.file_name = chosen.file_name and typed.typed_batch = chosen.typed_batch
    )
    -- chosen by another version of the model: every row
    or chosen.chosen_by is distinct from '{{ model.checksum.checksum }}'
{%- endif -%}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}
