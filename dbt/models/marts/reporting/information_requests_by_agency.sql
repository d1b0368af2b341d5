-- Requests by requesting agency, per period, country and request type. Agencies as written
-- are normalised (NFKC, case, punctuation, spacing) and mapped through the agency_aliases seed;
-- an agency the seed does not know is shown in its most frequent spelling.
with

requests as (
    select * from {{ ref('int_requests_counted') }}
    where {{ in_run_periods('period') }}
),

aliases as (
    select * from {{ ref('agency_aliases') }}
),

countries as (
    select * from {{ ref('countries') }}
),

-- Every rule on a spelling runs once per distinct spelling, not once per request: the Python
-- normalisation (irr_normalize_text: NFKC etc.) and the regular expressions (at 3 M requests,
-- 11.0 s when they ran per request)
distinct_spellings as (
    select agency, irr_normalize_text(agency) as normalized
    from (select distinct agency from requests where agency is not null)
),

spellings as (
    select
        agency,
        -- the normalised spelling: what two spellings of one agency share
        -- (dots and apostrophes dropped, F.B.I. is fbi; other punctuation a space)
        nullif(trim(regexp_replace(regexp_replace(
            regexp_replace(lower(normalized), '[.''’]', '', 'g'),
            '[\p{P}\p{S}]', ' ', 'g'), '\s+', ' ', 'g'
        )), '') as agency_key,
        regexp_replace(normalized, '\s+', ' ', 'g') as agency_written
    from distinct_spellings
),

screened_spellings as (
    select
        *,
        -- free text an agency wrote may hold an identifier (an e-mail address, a handle, a phone
        -- or an id, a link): such a name is never published, its requests count under this label
        agency_key is not null and (
            agency_written like '%@%'
            or regexp_matches(lower(agency_written), 'https?:|www[.]|[.](com|net|org)\b')
            or length(regexp_replace(agency_written, '[^0-9]', '', 'g')) >= 5
        ) as may_hold_identifier
    from spellings
),

screened as (
    select
        requests.*,
        spellings.agency_key,
        spellings.agency_written,
        -- no agency written: nothing to screen
        coalesce(spellings.may_hold_identifier, false) as may_hold_identifier
    from requests
    left join screened_spellings as spellings on spellings.agency = requests.agency
),

named as (
    select
        keyed.*,
        case
            when keyed.may_hold_identifier then 'not shown (the name held an identifier)'
            when keyed.agency_key is null then 'not stated'
            else coalesce(
                aliases.agency,
                -- the spelling used most for this key in the country and period (then the first)
                mode(keyed.agency_written order by keyed.agency_written)
                    over (partition by keyed.period, keyed.country_code, keyed.agency_key)
            )
        end as agency_name,
        case when keyed.may_hold_identifier then '' else coalesce(aliases.agency, keyed.agency_key) end
            as agency_group
    from screened as keyed
    left join aliases on aliases.alias = keyed.agency_key
),

per_type as (
    select
        period,
        country_code,
        agency_group,
        any_value(agency_name) as agency_name,
        request_type,
        count(*) as requests,
        count(*) filter (where is_disclosed) as requests_disclosed
    from named
    group by period, country_code, agency_group, request_type
),

ranked as (
    select
        *,
        sum(requests) over (partition by period, country_code, agency_group) as agency_requests
    from per_type
),

final as (
    select
        ranked.period::varchar as period,
        ranked.country_code::varchar as country_code,
        countries.country_name::varchar as country_name,
        ranked.agency_name::varchar as agency,
        ranked.request_type::varchar as request_type,
        ranked.requests::bigint as requests,
        ranked.requests_disclosed::bigint as requests_disclosed,
        ranked.agency_requests::bigint as agency_requests,
        dense_rank() over (
            partition by ranked.period, ranked.country_code
            order by ranked.agency_requests desc, ranked.agency_name
        )::bigint as agency_rank
    from ranked
    inner join countries on countries.country_code = ranked.country_code
)

select * from final
order by period, country_code, agency_rank, request_type
