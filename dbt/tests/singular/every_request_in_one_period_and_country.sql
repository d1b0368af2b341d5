{{ config(tags=['per_period'], meta={'dagster': {'ref': {'name': 'information_requests'}}}) }}
-- Every current request of the run's periods is counted exactly once, in one period and one country.
with counted as (
    select sum(total_requests) as n from {{ ref('information_requests') }} where {{ in_run_periods('period') }}
),
current_requests as (
    select count(*) as n from {{ ref('stg_requests__current') }} where {{ in_run_periods('period') }}
)
select counted.n as reported, current_requests.n as current_requests
from counted, current_requests
where coalesce(counted.n, 0) <> current_requests.n
