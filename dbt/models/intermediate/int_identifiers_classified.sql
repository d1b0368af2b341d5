-- Every distinct identifier text (as an agency wrote it, or as a short link points to)
-- classified by its content into a kind and reduced to its canonical form (CONTRACT 1.2).
-- Computed once per distinct (text, hint, region), since phones depend on the region.
with

identifiers as (
    select * from {{ ref('stg_requests__identifiers') }}
),

short_links as (
    select * from {{ ref('stg_directory__short_links') }}
),

texts as (
    select distinct raw_value, hint, country_code as region, false as is_short_link_target
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
            then irr_normalize_text(raw_value) end as txt
    from texts
),

url_parts as (
    select
        *,
        regexp_full_match(
            txt, '(?i)(https?://)?([a-z0-9-]+\.)*tiktok\.com(:\d+)?([/?#].*)?'
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
            when is_platform_url and url_host in ('vm.tiktok.com', 'vt.tiktok.com')
                then regexp_extract(url_path, '^/([A-Za-z0-9_-]+)$', 1)
            when is_platform_url
                then regexp_extract(url_path, '(?i)^/t/([A-Za-z0-9_-]+)$', 1)
        end as short_code,
        case when is_platform_url then coalesce(
            nullif(regexp_extract(url_path, '(?i)^/@[a-z0-9_.]{1,24}/video/(\d{1,20})$', 1), ''),
            nullif(regexp_extract(url_path, '(?i)^/v/(\d{1,20})\.html$', 1), '')
        ) end as url_video_id,
        case when is_platform_url
            then lower(nullif(regexp_extract(url_path, '(?i)^/@([a-z0-9_.]{1,24})(/video/\d{1,20})?$', 1), ''))
        end as url_username,
        -- other forms
        regexp_full_match(email_txt, '[A-Za-z0-9._%+''-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}')
            as is_email,
        regexp_extract(txt, '(?i)^(?:(?:uid|user_id)(?:\s*:\s*|\s+))?(\d{16,20})$', 1) as user_id_digits,
        regexp_full_match(txt, '\d{16,20}') as is_bare_long_number,
        regexp_full_match(txt, '\d{1,3}(\.\d{1,3}){3}')
            or regexp_full_match(txt, '(?i)[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}') as is_ip_address,
        regexp_full_match(txt, '(?i)(\+|00|tel:).*') or regexp_full_match(txt, '[0-9 .()-]*[0-9][0-9 .()-]*')
            as is_phone_form,
        regexp_full_match(txt, '@?[A-Za-z0-9_.]*[A-Za-z][A-Za-z0-9_.]*') as is_username_form
    from url_parts
),

classified as (
    select
        *,
        case
            when is_too_long then 'invalid'
            when txt is null or txt = '' then 'invalid'
            when is_platform_url and short_code <> '' then 'short_link'
            when is_platform_url and url_video_id is not null then 'video'
            when is_platform_url and url_username is not null then 'username'
            when is_platform_url then 'invalid'
            when is_other_url then 'invalid'
            when is_email then 'email'
            when is_bare_long_number and hint = 'video' then 'video'
            when user_id_digits <> '' then 'user_id'
            when is_ip_address then 'invalid'
            when is_phone_form and irr_phone_e164(txt, region) is not null then 'phone'
            when is_phone_form then 'invalid'
            when is_username_form and length(ltrim(txt, '@')) <= 24 and left(ltrim(txt, '@'), 1) <> '@'
                then 'username'
            else 'invalid'
        end as kind,
        case
            when is_too_long then 'identifier too long'
            when txt is null or txt = '' then 'empty'
            when is_platform_url and short_code <> '' then 'short_link'
            when is_platform_url and url_video_id is not null then 'video_url'
            when is_platform_url and url_username is not null then 'profile_url'
            when is_platform_url then 'unrecognised platform URL'
            when is_other_url then 'not a platform URL'
            when is_email then 'email'
            when is_bare_long_number and hint = 'video' then 'video_id'
            when user_id_digits <> '' then 'user_id'
            when is_ip_address then 'IP address'
            when is_phone_form and irr_phone_e164(txt, region) is not null then 'phone'
            when is_phone_form then 'impossible phone number'
            when is_username_form and length(ltrim(txt, '@')) <= 24 and left(ltrim(txt, '@'), 1) <> '@'
                then 'username'
            when is_username_form then 'username too long'
            else 'unrecognised text'
        end as form
    from matched
),

final as (
    select
        -- key
        raw_value,
        hint,
        region,
        is_short_link_target,

        -- classification
        kind,
        case when kind <> 'invalid' then form end as surface_form,
        case when kind = 'invalid' then form end as invalid_reason,
        case kind
            when 'email' then lower(email_txt)
            when 'phone' then irr_phone_e164(txt, region)
            when 'username' then coalesce(url_username, lower(ltrim(txt, '@')))
            when 'video' then coalesce(url_video_id, txt)
            when 'user_id' then user_id_digits
            when 'short_link' then short_code
        end as canonical_value,
        -- a video URL may name its owner's username: the fallback when the video is unknown
        case when kind = 'video' then url_username end as path_username
    from classified
)

select * from final
