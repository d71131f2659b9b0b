-- One row per channel (tmall, jd, ..., store, distributor, shopee, lazada) with its group.
select
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(channel_name_zh as {{ dbt.type_string() }}) as channel_name_zh,
    cast(channel_group as {{ dbt.type_string() }}) as channel_group,
    cast(channel_group_name_zh as {{ dbt.type_string() }}) as channel_group_name_zh,
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(sort_order as {{ dbt.type_int() }}) as sort_order
from {{ ref('ref_channels') }}
