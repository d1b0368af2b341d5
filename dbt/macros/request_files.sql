{#- stg_requests__lines_parsed's pre-hook: forget the rows of every file that is not, byte for
    byte, the file they were parsed from (by this reader and this version of the model): files
    changed, removed, never read (a symbolic link, a broken gzip) or loaded by another reader. -#}
{% macro forget_changed_request_files() -%}
{%- if is_incremental() -%}
delete from {{ this }} as parsed
where not exists (
    select 1 from {{ source('raw', 'request_files') }} as files
    where files.file_name = parsed.file_name
    and files.sha256 || ':' || files.reader_version || ':{{ model.checksum.checksum }}' = parsed.parse_key
)
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}
