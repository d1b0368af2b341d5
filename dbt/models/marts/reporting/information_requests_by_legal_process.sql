-- Requests by the legal process the agency named, per period and country; processes the
-- legal_processes seed does not know are grouped as 'other'.
with

requests as (
    select * from {{ ref('int_requests_counted') }}
),

processes as (
    select * from {{ ref('legal_processes') }}
),

countries as (
    select * from {{ ref('countries') }}
),

-- irr_normalize_text (NFKC etc., in Python) once per distinct spelling, not once per request
spellings as (
    select legal_process, lower(irr_normalize_text(legal_process)) as normalized
    from (select distinct legal_process from requests where legal_process is not null)
),

named as (
    select
        requests.*,
        case
            when requests.legal_process is null then 'not stated'
            else coalesce(processes.legal_process, 'other')
        end as process
    from requests
    left join spellings on spellings.legal_process = requests.legal_process
    left join processes on processes.alias = spellings.normalized
    where {{ in_run_periods('requests.period') }}
),

final as (
    select
        named.period::varchar as period,
        named.country_code::varchar as country_code,
        countries.country_name::varchar as country_name,
        named.process::varchar as legal_process,
        count(*)::bigint as requests,
        -- the requests that could disclose data (preservation requests do not: the report's
        -- definitions), and of those the disclosed ones: a preservation request that a drop says
        -- disclosed data counts as a preservation request, in no disclosure rate (as in
        -- information_requests), rather than above the rate's whole
        count(*) filter (where named.is_disclosed and named.request_type <> 'preservation')::bigint
            as requests_disclosed,
        count(*) filter (where named.request_type <> 'preservation')::bigint as requests_disclosable,
        sum(named.accounts_specified)::bigint as accounts_specified
    from named
    inner join countries on countries.country_code = named.country_code
    group by all
)

select * from final
order by period, country_code, legal_process
