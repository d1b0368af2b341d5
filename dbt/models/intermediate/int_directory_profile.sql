-- The whole directory in one row of counts, from one scan: its checks (stg_directory.yml) and the
-- data-quality account read these counts, so the directory is scanned once for all of them.
with

directory as (
    select * from {{ ref('stg_directory__account_identifiers') }}
),

final as (
    select
        count(*) as directory_rows,
        count(*) filter (where account_id is null) as rows_without_account_id,
        count(*) filter (where identifier_type is null
            or identifier_type not in ('email', 'phone', 'username')) as rows_with_unknown_type,
        count(*) filter (where identifier_value is null) as rows_without_value,
        count(*) filter (where (valid_from_text is not null and valid_from is null)
            or (valid_to_text is not null and valid_to is null)) as rows_with_unreadable_time,
        count(*) filter (where not is_interval_ordered) as rows_with_reversed_interval
    from directory
)

select * from final
