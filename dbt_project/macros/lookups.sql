{#
    The rows of the table `relation` whose `keys` (a list of columns) match a row of `probe`
    (a CTE or relation with the same key columns), for an incremental build in which a few
    rows of the window (a day's refunds) reference rows of any age in a big table (the order
    lines): what the model then joins to.

    A plain join, even a semi-join, reads every column of every row of the big table: DuckDB
    pushes only the min / max of the probe's keys into the scan, which skips nothing for
    text keys spread over the whole history. So on DuckDB the keys are matched first (two
    narrow columns of every row), and the matched rows are read by rowid, which DuckDB
    filters inside the scan (a runtime filter on the integer rowid, row group by row group).
    On a first or full build every row is looked up and the one hash join of the model is
    cheapest: the whole table. Other engines: the whole table (their own join strategy).
#}
{% macro rows_referenced_by(relation, probe, keys) -%}
    {{ return(adapter.dispatch('rows_referenced_by', 'channel_warehouse')(relation, probe, keys)) }}
{%- endmacro %}

{% macro default__rows_referenced_by(relation, probe, keys) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro duckdb__rows_referenced_by(relation, probe, keys) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where rowid in (
        select referenced.rowid
        from {{ relation }} as referenced
        semi join {{ probe }} as probe
            on {% for key in keys %}referenced.{{ key }} = probe.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
    )
    {%- endif %}
{%- endmacro %}
