-- Directory of short links: the case-sensitive code and the URL it points to.
with

source as (
    select * from {{ source('raw', 'short_links') }}
),

renamed as (
    select
        -- ids (codes are case-sensitive: no lower-casing)
        trim(code) as code,

        -- target
        trim(target_url) as target_url
    from source
)

select distinct * from renamed
