-- Per period, the two figures the drift gate compares with the last published version:
-- the share of distinct valid identifiers (per request) that resolve to an account, and the
-- accounts specified per request. A broken directory moves both; no identifiers here.
with

requests as (
    select * from {{ ref('int_requests_counted') }}
),

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

identifier_nodes as (
    select request_id, kind, canonical_value, count(account_id) > 0 as is_resolved
    from resolved
    group by all
),

per_period as (
    select
        requests.period,
        count(*) as identifiers,
        count(*) filter (where identifier_nodes.is_resolved) as identifiers_resolved
    from identifier_nodes
    inner join requests on requests.request_id = identifier_nodes.request_id
    group by all
),

final as (
    select
        requests.period,
        count(*)::bigint as requests,
        coalesce(any_value(per_period.identifiers), 0)::bigint as identifiers,
        coalesce(any_value(per_period.identifiers_resolved), 0)::bigint as identifiers_resolved,
        coalesce(any_value(per_period.identifiers_resolved) / nullif(any_value(per_period.identifiers), 0), 0)
            as resolved_share,
        sum(requests.accounts_specified) / count(*) as accounts_per_request
    from requests
    left join per_period on per_period.period = requests.period
    group by requests.period
)

select * from final
order by period
