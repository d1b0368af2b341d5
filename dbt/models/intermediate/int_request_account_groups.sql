-- The counting rule (CONTRACT 2): within a request, identifiers with equal canonical
-- forms are one node; nodes that refer to a common account are merged, transitively.
-- Connected components of the request's bipartite graph (identifier nodes - accounts),
-- found by label propagation: every vertex repeatedly takes the smallest label of its
-- neighbours until nothing changes. `using key` keeps one row per vertex, so the work
-- grows with the edges, not with the square of a component's size.
with recursive

resolved as (
    select * from {{ ref('int_identifiers_resolved') }}
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

vertices as (
    select request_id, vertex from nodes
    union
    select request_id, account_vertex from node_accounts
),

links as (
    select request_id, node_vertex as from_vertex, account_vertex as to_vertex from node_accounts
    union all
    select request_id, account_vertex, node_vertex from node_accounts
),

-- the propagation runs on numbers, not text: its state is held in memory whole (a recursive
-- CTE does not spill), and three integers a vertex keep three million requests within
-- DuckDB's memory limit. Numbers follow the text's order, so the smallest number is the
-- smallest text.
vertex_numbers as (
    select vertex, row_number() over (order by vertex) as vertex_no
    from (select distinct vertex from vertices)
),

request_numbers as (
    select request_id, row_number() over (order by request_id) as request_no
    from (select distinct request_id from vertices)
),

numbered_vertices as (
    select request_numbers.request_no, vertex_numbers.vertex_no
    from vertices
    inner join request_numbers using (request_id)
    inner join vertex_numbers using (vertex)
),

numbered_links as (
    select request_numbers.request_no, from_numbers.vertex_no as from_no, to_numbers.vertex_no as to_no
    from links
    inner join request_numbers using (request_id)
    inner join vertex_numbers as from_numbers on from_numbers.vertex = links.from_vertex
    inner join vertex_numbers as to_numbers on to_numbers.vertex = links.to_vertex
),

components (request_no, vertex_no, label) using key (request_no, vertex_no) as (
    select request_no, vertex_no, vertex_no from numbered_vertices
    union
    select numbered_links.request_no, numbered_links.to_no, min(components.label)
    from components
    inner join numbered_links
        on numbered_links.request_no = components.request_no
        and numbered_links.from_no = components.vertex_no
    inner join recurring.components as current_label
        on current_label.request_no = numbered_links.request_no
        and current_label.vertex_no = numbered_links.to_no
    where components.label < current_label.label
    group by numbered_links.request_no, numbered_links.to_no
),

final as (
    select
        request_numbers.request_id,
        substr(vertices.vertex, 3) as node_key,
        labels.vertex as group_key
    from components
    inner join request_numbers using (request_no)
    inner join vertex_numbers as vertices on vertices.vertex_no = components.vertex_no
    inner join vertex_numbers as labels on labels.vertex_no = components.label
    where vertices.vertex like 'n:%'
)

select * from final
