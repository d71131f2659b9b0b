{#
    Rank deliveries of the same business key: the latest load wins, then the
    lexically last source file, then the last row in it. Use as
        qualify {{ latest_delivery_rank('order_id, line_no') }} = 1
    Re-delivered files (same content, other file name) and duplicate orders collapse to one row.
    Feed models put their business-date column first in the key: DuckDB pushes a filter on a
    partition column below the window, so reading one day of a view dedupes one day.
#}
{% macro latest_delivery_rank(partition_by) -%}
    row_number() over (
        partition by {{ partition_by }}
        order by _loaded_at desc, _source_file desc, _source_row desc
    )
{%- endmacro %}
