{{ config(tags=['per_period'], meta={'dagster': {'ref': {'name': 'information_requests_global'}}}) }}
-- The global figures of each period are the sums of its countries' figures.
with by_country as (
    select
        period,
        sum(total_requests) as total_requests,
        sum(legal_requests) as legal_requests,
        sum(emergency_requests) as emergency_requests,
        sum(preservation_requests) as preservation_requests,
        sum(legal_requests_disclosed) as legal_requests_disclosed,
        sum(emergency_requests_disclosed) as emergency_requests_disclosed,
        sum(legal_accounts_specified) as legal_accounts_specified,
        sum(emergency_accounts_specified) as emergency_accounts_specified,
        sum(preservation_accounts_specified) as preservation_accounts_specified
    from {{ ref('information_requests') }}
    group by period
)
select g.period
from {{ ref('information_requests_global') }} as g
full outer join by_country as c on c.period = g.period
where g.period is null or c.period is null
    or g.total_requests <> c.total_requests
    or g.legal_requests <> c.legal_requests
    or g.emergency_requests <> c.emergency_requests
    or g.preservation_requests <> c.preservation_requests
    or g.legal_requests_disclosed <> c.legal_requests_disclosed
    or g.emergency_requests_disclosed <> c.emergency_requests_disclosed
    or g.legal_accounts_specified <> c.legal_accounts_specified
    or g.emergency_accounts_specified <> c.emergency_accounts_specified
    or g.preservation_accounts_specified <> c.preservation_accounts_specified
