-- The counting rule (CONTRACT 2): within a request, identifiers with equal canonical
-- forms are one node; nodes that refer to a common account are merged, transitively.
-- Each node gets the smallest node key of its connected component as group key.
with recursive

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
),

nodes as (
    select distinct request_id, kind || ':' || canonical_value as node_key
    from resolved
),

node_accounts as (
    select distinct request_id, kind || ':' || canonical_value as node_key, account_id
    from resolved
    where account_id is not null
),

-- two nodes of one request that share an account
edges as (
    select distinct a.request_id, a.node_key as from_key, b.node_key as to_key
    from node_accounts as a
    inner join node_accounts as b
        on a.request_id = b.request_id
        and a.account_id = b.account_id
        and a.node_key <> b.node_key
),

-- every node reachable from each node (UNION discards revisits, so it terminates)
reachable (request_id, start_key, node_key) as (
    select request_id, node_key, node_key from nodes
    union
    select reachable.request_id, reachable.start_key, edges.to_key
    from reachable
    inner join edges
        on edges.request_id = reachable.request_id
        and edges.from_key = reachable.node_key
),

final as (
    select
        request_id,
        node_key,
        min(start_key) as group_key
    from reachable
    group by request_id, node_key
)

select * from final
