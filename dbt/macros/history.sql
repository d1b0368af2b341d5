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
    current: the `publication` asset confirms it right after the switch. Before a run adds its
    own, what a run that died left pending is settled: confirmed if its publication is current
    (it died between its switch and its confirmation), removed otherwise (it died or failed
    before its switch), so version numbers stay consecutive and a version exists only once
    published. Without a run's settings (a dbt build by hand) nothing is confirmed. -#}
{% macro confirm_current_publication() -%}
    {%- if is_incremental() -%}
        update {{ this }} set is_published = true
        where not is_published and run_id = {{ run_setting('IRR_CURRENT_PUBLICATION') }}
            and {{ run_setting('IRR_CURRENT_PUBLICATION') }} <> ''
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
            {#- tell dbt's relation cache, so a model built in this same invocation sees them -#}
            {%- for name in ['report_versions', 'information_requests_versions', 'restatements'] -%}
                {%- do adapter.cache_dropped(api.Relation.create(database=target.database, schema='reporting', identifier=name, type='table')) -%}
                {%- do adapter.cache_added(api.Relation.create(database=target.database, schema='history', identifier=name, type='table')) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- on-run-start: tables of models that were renamed or removed, which dbt never drops itself.
    int_identifiers_canonical (now int_identifiers_links_followed) holds canonical identifiers:
    personal data that must not outlive its model. -#}
{% macro drop_retired_relations() %}
    {%- if execute -%}
        {%- for schema, name in [('intermediate', 'int_identifiers_canonical')] -%}
            {%- set found = adapter.get_relation(database=target.database, schema=schema, identifier=name) -%}
            {%- if found is not none -%}
                {%- do log('dropping ' ~ schema ~ '.' ~ name ~ ', a table of an earlier irr', info=true) -%}
                {%- do adapter.drop_relation(found) -%}
                {%- do adapter.commit() -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
