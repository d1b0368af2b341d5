-- Every distinct identifier text (as an agency wrote it, or as a short link points to)
-- classified by its content into a form, reduced to its canonical form (CONTRACT 1.2).
-- One CASE decides the form; the kind follows from the form (seed identifier_forms).
-- Computed once per distinct (text, hinted kind, region), since phones depend on the region.
{%- set domain = var('platform_domain') | replace('.', '\\.') %}
{%- set max_username = var('max_username_length') %}
with

identifiers as (
    select * from {{ ref('stg_requests__identifiers') }}
),

short_links as (
    select * from {{ ref('stg_directory__short_links') }}
),

forms as (
    select * from {{ ref('identifier_forms') }}
),

texts as (
    select distinct raw_value, hinted_kind, country_code as region, false as is_short_link_target
    from identifiers
    where item_error is null
    union all
    select distinct target_url, null, null, true
    from short_links
),

normalized as (
    select
        *,
        length(raw_value) > {{ var('max_identifier_length') }} as is_too_long,
        -- NFKC, invisible characters removed, whitespace collapsed and trimmed
        case when length(raw_value) <= {{ var('max_identifier_length') }}
            then {{ normalized_text('raw_value') }} end as txt
    from texts
),

url_parts as (
    select
        *,
        regexp_full_match(
            txt, '(?i)(https?://)?([a-z0-9-]+\.)*{{ domain }}(:\d+)?([/?#].*)?'
        ) as is_platform_url,
        regexp_full_match(txt, '(?i)([a-z][a-z0-9+.-]*://|www\.)\S+') as is_other_url,
        lower(regexp_extract(txt, '(?i)^(?:https?://)?([^/?#:]+)', 1)) as url_host,
        -- path without query string or fragment, without trailing slashes
        rtrim(regexp_extract(txt, '(?i)^(?:https?://)?[^/?#]+([^?#]*)', 1), '/') as url_path,
        -- e-mail wrappers: <...> and mailto:
        regexp_replace(
            regexp_replace(txt, '^<\s*(.*?)\s*>$', '\1'),
            '(?i)^mailto:\s*', ''
        ) as email_txt
    from normalized
),

matched as (
    select
        *,
        -- platform URLs
        case
            when is_platform_url and url_host in (
                {%- for host in var('short_link_hosts') %}'{{ host }}'{{ ", " if not loop.last }}{% endfor -%}
            )
                then regexp_extract(url_path, '^/([A-Za-z0-9_-]+)$', 1)
            when is_platform_url
                then regexp_extract(url_path, '(?i)^/t/([A-Za-z0-9_-]+)$', 1)
        end as short_code,
        case when is_platform_url then coalesce(
            nullif(regexp_extract(url_path, '(?i)^/@[a-z0-9_.]{1,{{ max_username }}}/video/(\d{1,20})$', 1), ''),
            nullif(regexp_extract(url_path, '(?i)^/v/(\d{1,20})\.html$', 1), '')
        ) end as url_video_id,
        case when is_platform_url then lower(nullif(regexp_extract(
            url_path, '(?i)^/@([a-z0-9_.]{1,{{ max_username }}})(/video/\d{1,20})?$', 1
        ), '')) end as url_username,
        -- other forms
        regexp_full_match(email_txt, '[A-Za-z0-9._%+''-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}')
            as is_email,
        regexp_extract(txt, '(?i)^(?:(?:uid|user_id)(?:\s*:\s*|\s+))?(\d{16,20})$', 1) as user_id_digits,
        regexp_full_match(txt, '\d{16,20}') as is_bare_long_number,
        -- IPv4 (octets 0-255, no leading zeros) or IPv6; so 612.34.62.90 is not an address
        {{ is_ip_address('txt') }} as is_ip_address,
        -- after an optional tel:, only digits, spaces, dots, dashes, parentheses and a leading +
        regexp_full_match(txt, '(?i)(tel:)? ?\+?[0-9 .()-]*') as is_phone_candidate,
        -- a username always has a letter
        regexp_full_match(txt, '@?[A-Za-z0-9_.]*[A-Za-z][A-Za-z0-9_.]*') as is_username_candidate
    from url_parts
),

phone_texts as (
    select distinct txt, region
    from matched
    where is_phone_candidate and not is_ip_address
),

phones as (
    select txt, region, irr_phone_e164(txt, region) as e164
    from phone_texts
),

classified as (
    select
        matched.*,
        phones.e164,
        case
            when is_too_long then 'identifier too long'
            when matched.txt is null or matched.txt = '' then 'empty'
            when is_platform_url and short_code <> '' then 'short_link'
            when is_platform_url and url_video_id is not null then 'video_url'
            when is_platform_url and url_username is not null then 'profile_url'
            when is_platform_url then 'unrecognised platform URL'
            when is_other_url then 'not a platform URL'
            when is_email then 'email'
            when is_bare_long_number and hinted_kind = 'video' then 'video_id'
            when user_id_digits <> '' then 'user_id'
            when is_ip_address then 'IP address'
            when is_phone_candidate and phones.e164 is not null then 'phone'
            when is_phone_candidate then 'impossible phone number'
            when is_username_candidate and length(ltrim(matched.txt, '@')) <= {{ max_username }}
                then 'username'
            when is_username_candidate then 'username too long'
            else 'unrecognised text'
        end as form
    from matched
    left join phones
        on phones.txt = matched.txt
        and phones.region is not distinct from matched.region
),

final as (
    select
        -- key
        classified.raw_value,
        classified.hinted_kind,
        classified.region,
        classified.is_short_link_target,

        -- classification
        forms.kind,
        case when forms.is_valid then forms.form end as surface_form,
        case when not forms.is_valid then forms.form end as invalid_reason,
        case forms.kind
            when 'email' then lower(classified.email_txt)
            when 'phone' then classified.e164
            when 'username' then coalesce(classified.url_username, lower(ltrim(classified.txt, '@')))
            when 'video' then coalesce(classified.url_video_id, classified.txt)
            when 'user_id' then classified.user_id_digits
            when 'short_link' then classified.short_code
        end as canonical_value,
        -- a video URL may name its owner's username: the fallback when the video is unknown
        case when forms.kind = 'video' then classified.url_username end as path_username
    from classified
    left join forms on forms.form = classified.form
)

select * from final
