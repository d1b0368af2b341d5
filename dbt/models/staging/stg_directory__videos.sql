-- Directory of videos: who owns each video.
with

source as (
    select * from {{ source('raw', 'videos') }}
),

renamed as (
    select
        -- ids
        trim(video_id) as video_id,
        trim(account_id) as account_id
    from source
)

select distinct * from renamed
