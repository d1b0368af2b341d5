-- Each request's current state with its accounts specified and how many valid identifiers it named.
with

requests as (
    -- the run's half-years (all of them but in a run of one period or a range: macros/periods.sql)
    select * from {{ ref('stg_requests__current') }}
    where {{ in_run_periods('period') }}
),

identifiers as (
    select * from {{ ref('int_identifiers_links_followed') }}
),

groups as (
    select * from {{ ref('int_request_account_groups') }}
),

outcomes as (
    select * from {{ ref('outcomes') }}
),

group_counts as (
    select request_id, count(distinct group_key) as accounts_specified
    from groups
    group by request_id
),

identifier_counts as (
    select
        request_id,
        count(*) filter (where is_valid) as identifiers_valid
    from identifiers
    group by request_id
),

final as (
    select
        -- ids
        requests.request_id,

        -- dimensions
        requests.period,
        requests.country_code,
        requests.request_type,
        requests.outcome,
        outcomes.is_disclosed,
        requests.legal_process,
        requests.agency,
        -- not known (NULL) counts as no order
        coalesce(requests.nondisclosure_order, false) as has_nondisclosure_order,

        -- timestamps, UTC
        requests.received_at,
        requests.updated_at,

        -- measures
        coalesce(group_counts.accounts_specified, 0) as accounts_specified,
        coalesce(identifier_counts.identifiers_valid, 0) as identifiers_valid
    from requests
    inner join outcomes on outcomes.outcome = requests.outcome
    left join group_counts on group_counts.request_id = requests.request_id
    left join identifier_counts on identifier_counts.request_id = requests.request_id
)

select * from final
