{#- The account groups of one slice of the requests (all of them when slices is 1): the
    body of int_request_account_groups, which builds slice 0 and inserts the others with
    post-hooks, one statement each. -#}
{% macro account_groups(slice, slices) %}
-- The counting rule (CONTRACT 2): within a request, identifiers with equal canonical
-- forms are one node; nodes that refer to a common account are merged, transitively.
-- Connected components of the request's bipartite graph (identifier nodes - accounts),
-- found by label propagation: every vertex repeatedly takes the smallest label of its
-- neighbours until nothing changes. `using key` keeps one row per vertex, so the work
-- grows with the edges, not with the square of a component's size.
--
-- Only a request in which one account links two identifier nodes needs the propagation (at 3 M
-- requests, 1.2 M of 2.9 M). In every other request a node's component is the node and its
-- own accounts, and its label is their smallest vertex: the smallest account ('a:' sorts
-- before 'n:'), or the node itself when it resolved to none.
with recursive

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
    {%- if slices > 1 %}
    where hash(request_id) % {{ slices }} = {{ slice }}
    {%- endif %}
),

nodes as (
    select distinct request_id, 'n:' || kind || ':' || canonical_value as vertex
    from resolved
),

node_accounts as (
    select distinct
        request_id,
        'n:' || kind || ':' || canonical_value as node_vertex,
        'a:' || account_id as account_vertex
    from resolved
    where account_id is not null
),

linked as (
    select distinct request_id
    from node_accounts
    group by request_id, account_vertex
    having count(*) > 1
),

linked_node_accounts as (
    select * from node_accounts semi join linked using (request_id)
),

vertices as (
    select request_id, vertex from nodes semi join linked using (request_id)
    union
    select request_id, account_vertex from linked_node_accounts
),

links as (
    select request_id, node_vertex as from_vertex, account_vertex as to_vertex from linked_node_accounts
    union all
    select request_id, account_vertex, node_vertex from linked_node_accounts
),

components (request_id, vertex, label) using key (request_id, vertex) as (
    select request_id, vertex, vertex from vertices
    union
    select links.request_id, links.to_vertex, min(components.label)
    from components
    inner join links
        on links.request_id = components.request_id
        and links.from_vertex = components.vertex
    inner join recurring.components as current_label
        on current_label.request_id = links.request_id
        and current_label.vertex = links.to_vertex
    where components.label < current_label.label
    group by links.request_id, links.to_vertex
),

unlinked as (
    select
        nodes.request_id,
        nodes.vertex,
        coalesce(min(node_accounts.account_vertex), nodes.vertex) as label
    from nodes
    anti join linked using (request_id)
    left join node_accounts
        on node_accounts.request_id = nodes.request_id
        and node_accounts.node_vertex = nodes.vertex
    group by nodes.request_id, nodes.vertex
),

final as (
    select
        request_id,
        substr(vertex, 3) as node_key,
        label as group_key
    from components
    where vertex like 'n:%'
    union all
    select request_id, substr(vertex, 3), label from unlinked
)

select * from final
{% endmacro %}
