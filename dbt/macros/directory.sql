{#- How a directory row's texts are read: one definition for the staging view
    (stg_directory__account_identifiers) and the whole-directory profile (int_directory_profile),
    which reads the raw rows itself to spare work (see there). -#}

{#- identifier_type as compared: email, phone or username, whatever the case and spaces. -#}
{% macro directory_type(column) -%}
lower(trim({{ column }}))
{%- endmacro %}

{#- A validity time as written: NULL when empty (open-ended). -#}
{% macro directory_time_text(column) -%}
nullif(trim({{ column }}), '')
{%- endmacro %}

{#- A validity time as a UTC timestamp: NULL when empty or not a timestamp (a time without an
    offset is in the session's TimeZone, UTC in every run: dbt_plugin.py). -#}
{% macro directory_time(column) -%}
{{ directory_time_of_text(directory_time_text(column)) }}
{%- endmacro %}

{#- The same, from the time as written (directory_time_text). -#}
{% macro directory_time_of_text(text) -%}
try_cast({{ text }} as timestamptz) at time zone 'UTC'
{%- endmacro %}

{#- Whether a row's validity interval is ordered (or open on a side): from its parsed times. -#}
{% macro directory_interval_ordered(valid_from, valid_to) -%}
coalesce({{ valid_to }} > {{ valid_from }}, true)
{%- endmacro %}
