-- The counting rule (CONTRACT 2): the connected components of each request's graph of
-- identifier nodes and accounts (macros/account_groups.sql).
--
-- The propagation is a recursive CTE, whose state DuckDB holds in memory whole: it does not
-- spill. A large drop is therefore done in slices of requests (by a hash of request_id), one
-- statement each, so that memory follows the slice and not the drop. IRR_GROUP_SLICES is set
-- by the run from the number of request lines (assets/dbt.py); 1 (unset) does it in one go.
{%- set slices = env_var('IRR_GROUP_SLICES', '1') | int %}
{%- set hooks = [] %}
{%- for slice in range(1, slices) %}
    {%- do hooks.append('insert into {{ this }} {{ account_groups(' ~ slice ~ ', ' ~ slices ~ ') }}') %}
{%- endfor %}
{{ config(post_hook=hooks) }}

{{ account_groups(0, slices) }}
