{#- The periods a run materialises: IRR_PERIOD_FROM and IRR_PERIOD_TO (e.g. 2023-H1, 2024-H2),
    set by the Dagster asset for its partitions; without them, every period. Period names sort
    in time order as text. Read only when executing, never while parsing, so a new range does
    not make dbt parse the project again (vars and parse-time environment variables would). -#}
{% macro in_run_periods(column) -%}
    {%- if execute -%}
        {{ column }} between '{{ env_var("IRR_PERIOD_FROM", "0000-H1") }}' and '{{ env_var("IRR_PERIOD_TO", "9999-H2") }}'
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the per-period marts: remove the run's periods before they are inserted
    again, so a re-run replaces exactly those periods and leaves every other one alone. -#}
{% macro delete_run_periods(column='period') -%}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_run_periods(column) }}
    {% endif %}
{%- endmacro %}
