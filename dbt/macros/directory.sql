{#- How a directory row's texts are read: one definition for the staging view
    (stg_directory__account_identifiers) and the whole-directory profile (int_directory_profile),
    which reads the raw rows itself to spare work (see there). -#}

{#- identifier_type as compared: email, phone or username, whatever the case and spaces. -#}
{% macro directory_type(column) -%}
lower(trim({{ column }}))
{%- endmacro %}

{#- A value as compared: trimmed, and lower-cased for an email or a username (`type` is the type
    as compared). CONTRACT 1.3 says the directory's values are canonical; this makes them so. -#}
{% macro directory_value(type, value) -%}
case when {{ type }} in ('username', 'email') then lower(trim({{ value }})) else trim({{ value }}) end
{%- endmacro %}

{#- Whether directory_value may change a value as written: true for every value it changes, false
    for most that it does not, at about half its cost on every row (0.4 s against 1.0 s at 20 M
    rows, alone: lower copies each text too, trim's copy is spared). trim takes off Unicode's
    spaces: in a text of ASCII characters only the space, and any other character makes the text
    longer in bytes than in characters; lower changes an ASCII text only where it is not
    lower-case already. A superset, checked over every code point (tests/test_properties.py): a
    text with any character outside ASCII is counted. -#}
{% macro directory_value_may_change(value) -%}
(starts_with({{ value }}, ' ') or ends_with({{ value }}, ' ') or strlen({{ value }}) <> length({{ value }})
    or lower({{ value }}) <> {{ value }})
{%- endmacro %}

{#- Whether the directory's values are all written canonically, so that int_directory_named may
    compare them as written: the profile (int_directory_profile), built by this same dbt
    invocation, found none that directory_value may change. No when the profile is not built (a
    `dbt compile` of an empty warehouse) or was built by another invocation (int_directory_named
    built alone, say from the UI: the directory may have changed since). -#}
{% macro directory_values_are_canonical() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set profile = load_relation(ref('int_directory_profile')) -%}
    {%- if profile is none -%}{{ return(false) }}{%- endif -%}
    {%- set counted = run_query(
        "select count(*) from " ~ profile ~ " where rows_with_value_maybe_not_canonical = 0"
        ~ " and dbt_invocation_id = '" ~ invocation_id ~ "'") -%}
    {{ return(counted.columns[0].values()[0] == 1) }}
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
