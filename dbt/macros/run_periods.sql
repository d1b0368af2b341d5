{#- The periods a run materialises: vars period_from and period_to (e.g. 2023-H1, 2024-H2);
    without them, every period. Period names sort in time order as text. -#}
{% macro in_run_periods(column) -%}
    {{ column }} between '{{ var("period_from", "0000-H1") }}' and '{{ var("period_to", "9999-H2") }}'
{%- endmacro %}

{#- Pre-hook of the per-period marts: remove the run's periods before they are inserted
    again, so a re-run replaces exactly those periods and leaves every other one alone. -#}
{% macro delete_run_periods() -%}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_run_periods('period') }}
    {% endif %}
{%- endmacro %}
