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
