{#- A setting of the run this build belongs to, as a SQL string literal: IRR_RUN_ID (the
    Dagster run), IRR_CURRENT_PUBLICATION (the run whose publication is current) and
    IRR_INPUT_FINGERPRINT, set by the Dagster asset. Read only when executing, never while
    parsing, so a new run does not make dbt parse the project again. -#}
{% macro run_setting(name) -%}
    {%- if execute -%}
        '{{ env_var(name, "") | replace("'", "''") }}'
    {%- else -%}
        ''
    {%- endif -%}
{%- endmacro %}

{#- Pre-hooks of the history models. A version is pending until its run's publication is made
    current (the `publication` asset switches it after this build). Before a run adds its own,
    the pending rows of the run whose publication is current are confirmed (it died between its
    switch and the next run) and those of any other run are removed (it died or failed before
    its switch): version numbers stay consecutive and a version exists only once published. -#}
{% macro confirm_current_publication() -%}
    {%- if is_incremental() -%}
        update {{ this }} set is_published = true
        where not is_published and run_id = {{ run_setting('IRR_CURRENT_PUBLICATION') }}
    {%- endif -%}
{%- endmacro %}

{% macro drop_unpublished() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where not is_published
    {%- endif -%}
{%- endmacro %}

{#- The measures of information_requests, each as a double, named after its column; a measure
    `stored` does not hold (it was added to the report since) is NULL. -#}
{% macro measure_values(measures, stored=none) -%}
    {%- for m in measures -%}
        {{ m.column if stored is none or m.column in stored else 'null' }}::double as {{ m.column }}
        {{- ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Figures that differ between two sets of rows of information_requests (`old` and `new`, each
    with period and country_code): one row per (period, country_code, metric) with the old and
    the new value. A measure that no old row of the period holds did not exist when the old
    figures were published: its values are new figures, not changed ones. -#}
{% macro changed_figures(old, new, measures, old_stored=none) -%}
    with
    old_values as (
        select *
        from (select period, country_code, {{ measure_values(measures, old_stored) }} from {{ old }})
        unpivot include nulls (value for metric in (
            {%- for m in measures %}{{ m.column }}{{ ', ' if not loop.last }}{% endfor -%}
        ))
    ),
    new_values as (
        select *
        from (select period, country_code, {{ measure_values(measures) }} from {{ new }})
        unpivot include nulls (value for metric in (
            {%- for m in measures %}{{ m.column }}{{ ', ' if not loop.last }}{% endfor -%}
        ))
    ),
    existed as (
        select period, metric from old_values group by period, metric having count(value) > 0
    ),
    differing as (
        select
            coalesce(old_values.period, new_values.period) as period,
            coalesce(old_values.country_code, new_values.country_code) as country_code,
            coalesce(old_values.metric, new_values.metric) as metric,
            old_values.value as old_value,
            new_values.value as new_value
        from old_values
        full outer join new_values
            on new_values.period = old_values.period
            and new_values.country_code = old_values.country_code
            and new_values.metric = old_values.metric
        where old_values.value is distinct from new_values.value
    )
    select differing.*
    from differing
    inner join existed on existed.period = differing.period and existed.metric = differing.metric
{%- endmacro %}

{#- on-run-start: a warehouse from before the history was dbt's keeps it in `reporting`
    (report_versions, information_requests_versions, restatements, written by Python). Moved
    once into `history`, with the run and status of each row taken from its version, so that
    version numbers go on where they stopped. -#}
{% macro adopt_legacy_history() %}
    {%- if execute -%}
        {%- set legacy = adapter.get_relation(database=target.database, schema='reporting', identifier='report_versions') -%}
        {%- set adopted = adapter.get_relation(database=target.database, schema='history', identifier='report_versions') -%}
        {%- if legacy is not none and adopted is none -%}
            {%- do log('moving the publication history from reporting to history', info=true) -%}
            {%- call statement('adopt_legacy_history') -%}
                create schema if not exists history;
                create table history.report_versions as
                    select * exclude (is_published), is_published from reporting.report_versions;
                create table history.information_requests_versions as
                    select f.version, v.run_id, v.is_published, f.* exclude (version)
                    from reporting.information_requests_versions as f
                    inner join reporting.report_versions as v on v.period = f.period and v.version = f.version;
                create table history.restatements as
                    select r.*, v.run_id, v.is_published
                    from reporting.restatements as r
                    inner join reporting.report_versions as v on v.period = r.period and v.version = r.version;
                drop table reporting.restatements;
                drop table reporting.information_requests_versions;
                drop table reporting.report_versions;
            {%- endcall -%}
            {%- do adapter.commit() -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
