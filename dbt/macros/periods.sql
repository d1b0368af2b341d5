{#- The period rule, on the SQL side (its Python side: dagster_project/partitions.py). A period
    is a half-year named like '2023-H2' (H1 = January to June), of received_at in UTC; the first
    is the one of var('first_reported_day'). Period names sort in time order as text. -#}
{% macro period_of(moment) -%}
    year({{ moment }})::varchar || '-H' || case when month({{ moment }}) <= 6 then '1' else '2' end
{%- endmacro %}

{#- The half-year before a period: '2023-H1' -> '2022-H2'. -#}
{% macro previous_period(period) -%}
    case when split_part({{ period }}, '-H', 2) = '1'
        then (cast(split_part({{ period }}, '-H', 1) as integer) - 1)::varchar || '-H2'
        else split_part({{ period }}, '-H', 1) || '-H1'
    end
{%- endmacro %}

{#- First and last day of a period. -#}
{% macro period_start(period) -%}
    make_date(cast(split_part({{ period }}, '-H', 1) as integer), case when split_part({{ period }}, '-H', 2) = '1' then 1 else 7 end, 1)
{%- endmacro %}

{% macro period_end(period) -%}
    make_date(cast(split_part({{ period }}, '-H', 1) as integer), case when split_part({{ period }}, '-H', 2) = '1' then 6 else 12 end, case when split_part({{ period }}, '-H', 2) = '1' then 30 else 31 end)
{%- endmacro %}

{#- 'Jan-Jun 2023' / 'Jul-Dec 2023' for a period named like '2023-H2'. -#}
{% macro period_value(period) -%}
    case when split_part({{ period }}, '-H', 2) = '1' then 'Jan-Jun ' else 'Jul-Dec ' end || split_part({{ period }}, '-H', 1)
{%- endmacro %}

{#- The periods a run materialises: IRR_PERIOD_FROM and IRR_PERIOD_TO (e.g. 2023-H1, 2024-H2),
    set by the Dagster assets from the run's partitions; without them (or empty), every period.
    Period names sort in time order as text. Read only when executing, never while parsing, so
    a new range does not make dbt parse the project again (vars and parse-time environment
    variables would). The report marts hold every period and rebuild the run's; the models
    from stg_requests__identifiers on (and the data-quality account) hold the run's only. -#}
{% macro run_period_from() -%}
    '{{ (env_var("IRR_PERIOD_FROM", "") if execute else "") or "0000-H1" }}'
{%- endmacro %}

{% macro run_period_to() -%}
    '{{ (env_var("IRR_PERIOD_TO", "") if execute else "") or "9999-H2" }}'
{%- endmacro %}

{% macro in_run_periods(column) -%}
    {%- if execute -%}
        {{ column }} between {{ run_period_from() }} and {{ run_period_to() }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The record of which half-years the intermediate models hold (int_run_scope) is forgotten
    when a build that rebuilds them starts (on-run-start), and made again by int_run_scope, which
    dbt builds after them: a build that fails or is killed half-way leaves no record. -#}
{% macro forget_run_scope() -%}
    {%- if execute and 'model.irr.int_run_scope' in selected_resources -%}
        {%- set scope = adapter.get_relation(database=target.database, schema='intermediate', identifier='int_run_scope') -%}
        {%- if scope is not none -%}delete from {{ scope }}{%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the per-period marts: the intermediate models must hold the run's periods, as
    int_run_scope records, or a period outside them would be rebuilt from nothing:
    materialising the marts alone for another half-year than the last build's, or after a build
    that failed, fails here before a row is deleted, with what to do. -#}
{% macro assert_run_periods_built() -%}
    {%- if execute -%}
    {%- set scope = adapter.get_relation(database=target.database, schema='intermediate', identifier='int_run_scope') -%}
    {#- no such table yet: a record of nothing -#}
    {%- set held = scope if scope is not none else '(select null::varchar as period_from, null::varchar as period_to where false)' -%}
    select error('the intermediate models hold '
        || coalesce((select 'the half-years ' || any_value(period_from) || ' to ' || any_value(period_to) from {{ held }}),
                    'no complete build')
        || ', not all of ' || {{ run_period_from() }} || ' to ' || {{ run_period_to() }}
        || ': build them for these half-years first (run the whole job, or irr run)')
    where not exists (
        select 1 from {{ held }}
        where period_from <= {{ run_period_from() }} and period_to >= {{ run_period_to() }}
    )
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the per-period marts: remove the run's periods before they are inserted
    again, so a re-run replaces exactly those periods and leaves every other one alone. -#}
{% macro delete_run_periods(column='period') -%}
    {% if is_incremental() %}
        delete from {{ this }} where {{ in_run_periods(column) }}
    {% endif %}
{%- endmacro %}
