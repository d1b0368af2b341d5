{#- The measures of a report model whose yml gives them `meta.report.<key>` (export,
    export_global or html), as {column, metric, position} in position order: the report's shape
    is declared once, with the measures in reporting.yml, and the export is built from it. -#}
{% macro report_metrics(model_name, key) %}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
            {%- for column in node.columns.values() -%}
                {%- set config_meta = (column.config or {}).get('meta') or {} -%}
                {%- set meta = config_meta.get('report') or (column.meta or {}).get('report') or {} -%}
                {%- if meta.get(key) -%}
                    {%- do found.append({'column': column.name, 'metric': meta[key]['metric'],
                                         'position': meta[key]['position']}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found | sort(attribute='position')) }}
{% endmacro %}

{#- 'Jan-Jun 2023' / 'Jul-Dec 2023' for a period named like '2023-H2'. -#}
{% macro period_value(period) -%}
    case when split_part({{ period }}, '-H', 2) = '1' then 'Jan-Jun ' else 'Jul-Dec ' end || split_part({{ period }}, '-H', 1)
{%- endmacro %}
