{{ config(tags=['per_period'], meta={'dagster': {'ref': {'name': 'information_requests_by_outcome'}}}) }}
-- Per period, country and request type, the outcomes add up to the report's requests and
-- accounts specified, and the outcome `disclosed` is the report's disclosed requests (legal,
-- emergency).
with by_outcome as (
    select
        period,
        country_code,
        request_type,
        sum(requests) as requests,
        sum(requests) filter (where outcome = 'disclosed') as disclosed,
        sum(accounts_specified) as accounts_specified
    from {{ ref('information_requests_by_outcome') }}
    group by all
),

report as (
    {%- for type in ['legal', 'emergency', 'preservation'] %}
    select
        period,
        country_code,
        '{{ type }}' as request_type,
        {{ type }}_requests as requests,
        {{ type + '_requests_disclosed' if type != 'preservation' else 'null' }} as disclosed,
        {{ type }}_accounts_specified as accounts_specified
    from {{ ref('information_requests') }}
    where {{ type }}_requests > 0
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select coalesce(r.period, o.period) as period, coalesce(r.country_code, o.country_code) as country_code
from report as r
full outer join by_outcome as o
    on o.period = r.period and o.country_code = r.country_code and o.request_type = r.request_type
where r.period is null or o.period is null
    or r.requests <> o.requests
    or r.disclosed <> o.disclosed  -- the report counts no disclosed preservation request
    or r.accounts_specified <> o.accounts_specified
