{#- The measures of a report model whose yml gives them `meta.report.<key>` (export,
    export_global or html), as {column, metric, position} in position order: the report's shape
    is declared once, with the measures in reporting.yml, and the export is built from it.
    Without a key, every measure (every column with `meta.report`) with its format (count or
    rate), in declaration order. -#}
{% macro report_metrics(model_name, key=none) %}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
            {%- for column in node.columns.values() -%}
                {%- set config_meta = (column.config or {}).get('meta') or {} -%}
                {%- set meta = config_meta.get('report') or (column.meta or {}).get('report') or {} -%}
                {%- if key is none and meta -%}
                    {%- do found.append({'column': column.name, 'metric': column.name,
                                         'position': found | length, 'format': meta.get('format')}) -%}
                {%- elif key is not none and meta.get(key) -%}
                    {%- do found.append({'column': column.name, 'metric': meta[key]['metric'],
                                         'position': meta[key]['position']}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found | sort(attribute='position')) }}
{% endmacro %}
