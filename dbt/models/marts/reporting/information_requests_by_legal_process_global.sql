-- Requests by the legal process the agency named, per period, over every country: the
-- report page's table of legal processes.
with

by_country as (
    select * from {{ ref('information_requests_by_legal_process') }}
    where {{ in_run_periods('period') }}
),

summed as (
    select
        period,
        legal_process,
        sum(requests) as requests,
        sum(requests_disclosed) as requests_disclosed,
        sum(requests_disclosable) as requests_disclosable,
        sum(accounts_specified) as accounts_specified
    from by_country
    group by period, legal_process
),

final as (
    select
        period::varchar as period,
        legal_process::varchar as legal_process,
        requests::bigint as requests,
        requests_disclosed::bigint as requests_disclosed,
        requests_disclosable::bigint as requests_disclosable,
        (requests_disclosed / nullif(requests_disclosable, 0))::double as disclosure_rate,
        accounts_specified::bigint as accounts_specified
    from summed
)

select * from final
order by period, requests desc, legal_process
