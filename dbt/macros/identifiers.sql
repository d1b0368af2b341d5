{#- The Python helpers (dagster_project/identifiers.py), called only where they can change the
    answer: a call costs microseconds, and a drop holds millions of distinct texts. -#}

{#- irr_normalize_text: NFKC, invisible characters removed, whitespace collapsed and trimmed. Words
    of printable ASCII separated by single spaces are their own normal form (NFKC leaves ASCII as
    it is, and none of it is invisible): only other texts, and NULL, go to Python. -#}
{% macro normalized_text(text) -%}
case when regexp_full_match({{ text }}, '[\x21-\x7e]+( [\x21-\x7e]+)*') then {{ text }}
    else irr_normalize_text({{ text }}) end
{%- endmacro %}

{#- irr_is_ip_address: an address is hex digits, colons and dots (an IPv6 zone may follow a %):
    any other text is not one, and only these go to Python. -#}
{% macro is_ip_address(text) -%}
case when regexp_full_match({{ text }}, '[0-9A-Fa-f:.]+(%.*)?') then irr_is_ip_address({{ text }})
    when {{ text }} is not null then false end
{%- endmacro %}
