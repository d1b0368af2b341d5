-- Every identifier of every request with its kind and canonical form; short links are
-- replaced by what they point to (through the directory), so that a short link to a
-- profile and that profile's username compare equal.
with

identifiers as (
    select * from {{ ref('stg_requests__identifiers') }}
),

classified as (
    select * from {{ ref('int_identifiers_classified') }}
),

short_links as (
    select * from {{ ref('stg_directory__short_links') }}
),

as_written as (
    select
        identifiers.request_id,
        identifiers.item_index,
        identifiers.country_code,
        identifiers.received_at,
        identifiers.item_error,
        classified.kind,
        classified.surface_form,
        classified.invalid_reason,
        classified.canonical_value,
        classified.path_username
    from identifiers
    left join classified
        on classified.raw_value = identifiers.raw_value
        and classified.hinted_kind is not distinct from identifiers.hinted_kind
        and classified.region is not distinct from identifiers.country_code
        and not classified.is_short_link_target
),

link_targets as (
    select
        short_links.code,
        targets.kind,
        targets.canonical_value,
        targets.path_username
    from short_links
    inner join classified as targets
        on targets.raw_value = short_links.target_url
        and targets.is_short_link_target
    -- a link to a profile or a video; a link to anything else stays an unresolved short link
    where targets.kind in ('username', 'video')
),

final as (
    select
        -- ids
        as_written.request_id,
        as_written.item_index,

        -- context
        as_written.country_code,
        as_written.received_at,

        -- how it was written
        case when as_written.item_error is null then as_written.surface_form end as surface_form,
        coalesce(as_written.item_error, as_written.invalid_reason) as invalid_reason,
        as_written.item_error is null and as_written.kind <> 'invalid' as is_valid,

        -- what it is, after following short links
        case when as_written.item_error is null and as_written.kind <> 'invalid'
            then coalesce(link_targets.kind, as_written.kind) end as kind,
        case when as_written.item_error is null and as_written.kind <> 'invalid'
            then coalesce(link_targets.canonical_value, as_written.canonical_value) end as canonical_value,
        case when link_targets.code is not null then link_targets.path_username
            else as_written.path_username end as path_username
    from as_written
    left join link_targets
        on as_written.kind = 'short_link'
        and link_targets.code = as_written.canonical_value
)

select * from final
