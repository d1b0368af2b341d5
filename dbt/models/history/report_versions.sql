-- One row per published version of a period: when, by which run, from which drop, its totals,
-- and the two figures the drift gate compares (dq.dq_period_quality when it was computed).
with

new_version as (
    select distinct period, version, run_id
    from {{ ref('information_requests_versions') }}
    where run_id = {{ run_setting('IRR_RUN_ID') }} and not is_published
),

world as (
    select * from {{ ref('information_requests_global') }}
),

quality as (
    select * from {{ ref('dq_period_quality') }}
),

final as (
    select
        new_version.period::varchar as period,
        new_version.version::integer as version,
        new_version.run_id::varchar as run_id,
        now()::timestamp with time zone as published_at,
        {{ run_setting('IRR_INPUT_FINGERPRINT') }}::varchar as input_fingerprint,
        world.total_requests::bigint as total_requests,
        world.legal_requests::bigint as legal_requests,
        world.emergency_requests::bigint as emergency_requests,
        world.preservation_requests::bigint as preservation_requests,
        quality.resolved_share::double as resolved_share,
        quality.accounts_per_request::double as accounts_per_request,
        false as is_published
    from new_version
    inner join world on world.period = new_version.period
    left join quality on quality.period = new_version.period
)

select * from final
order by period, version
