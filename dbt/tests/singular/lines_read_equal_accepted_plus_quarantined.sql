{{ config(meta={'dagster': {'ref': {'name': 'dq_quarantined_lines'}}}) }}
-- Every line read from the drop is either an accepted event or a quarantined line.
with read_lines as (
    select count(*) as n from {{ source('raw', 'request_lines') }}
),
accepted as (
    select count(*) as n from {{ ref('stg_requests__events') }} where is_accepted
),
quarantined as (
    select count(*) as n from {{ ref('dq_quarantined_lines') }}
)
select read_lines.n as lines_read, accepted.n as accepted, quarantined.n as quarantined
from read_lines, accepted, quarantined
where read_lines.n <> accepted.n + quarantined.n
