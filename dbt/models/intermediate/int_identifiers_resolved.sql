-- The accounts each valid identifier of a request refers to (CONTRACT 1.3); an
-- identifier that refers to no account keeps one row with a NULL account_id.
with

identifiers as (
    select * from {{ ref('int_identifiers_links_followed') }} where is_valid
),

-- only the directory rows the requests name, without reversed intervals
directory as (
    select * from {{ ref('int_directory_named') }}
),

videos as (
    select * from {{ ref('stg_directory__videos') }}
),

-- the accounts a named user id can refer to: only ids that a request names are looked up,
-- so the cost follows the requests, not the size of the directory
named_user_ids as (
    select distinct canonical_value as account_id from identifiers where kind = 'user_id'
),

known_accounts as (
    select account_id from directory semi join named_user_ids using (account_id)
    union
    select account_id from videos semi join named_user_ids using (account_id)
),

-- one node per distinct canonical identifier of a request
nodes as (
    select distinct
        request_id,
        received_at,
        kind,
        canonical_value,
        path_username
    from identifiers
),

video_owners as (
    select nodes.request_id, nodes.kind, nodes.canonical_value, videos.account_id
    from nodes
    inner join videos on nodes.kind = 'video' and videos.video_id = nodes.canonical_value
),

-- what to look up in the directory: the identifier itself, or for an unknown
-- video the username in its URL
lookups as (
    select
        nodes.*,
        case
            when nodes.kind in ('email', 'phone', 'username') then nodes.kind
            when nodes.kind = 'video' and nodes.path_username is not null
                and not exists (
                    select 1 from video_owners
                    where video_owners.request_id = nodes.request_id
                    and video_owners.canonical_value = nodes.canonical_value
                )
                then 'username'
        end as lookup_type,
        case
            when nodes.kind in ('email', 'phone', 'username') then nodes.canonical_value
            else nodes.path_username
        end as lookup_value
    from nodes
),

candidates as (
    select
        lookups.request_id,
        lookups.kind,
        lookups.canonical_value,
        directory.account_id,
        directory.valid_from,
        directory.valid_to,
        (directory.valid_from is null or directory.valid_from <= lookups.received_at)
            and (directory.valid_to is null or lookups.received_at < directory.valid_to) as is_valid_then,
        directory.valid_to is not null and directory.valid_to <= lookups.received_at as has_ended_before
    from lookups
    inner join directory
        on directory.identifier_type = lookups.lookup_type
        and directory.identifier_value = lookups.lookup_value
),

-- valid at received_at; if none was, the rows that ended last before it
chosen as (
    select request_id, kind, canonical_value, account_id
    from candidates
    window w as (partition by request_id, kind, canonical_value)
    qualify
        case
            when bool_or(is_valid_then) over w then is_valid_then
            else has_ended_before
                and valid_to = max(case when has_ended_before then valid_to end) over w
        end
),

user_ids as (
    select nodes.request_id, nodes.kind, nodes.canonical_value, known_accounts.account_id
    from nodes
    inner join known_accounts on nodes.kind = 'user_id' and known_accounts.account_id = nodes.canonical_value
),

referred as (
    select * from chosen
    union
    select * from video_owners
    union
    select * from user_ids
),

final as (
    select distinct
        nodes.request_id,
        nodes.kind,
        nodes.canonical_value,
        referred.account_id
    from nodes
    left join referred
        on referred.request_id = nodes.request_id
        and referred.kind = nodes.kind
        and referred.canonical_value = nodes.canonical_value
)

select * from final
