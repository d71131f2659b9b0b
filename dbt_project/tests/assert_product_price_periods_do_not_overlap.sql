-- A SKU's price periods must not overlap, or a sale would match two unit costs (and be
-- counted twice by the range joins of the intermediate models).
select
    a.sku,
    a.valid_from as period_a_from,
    b.valid_from as period_b_from
from {{ ref('stg_reference__products') }} as a
inner join {{ ref('stg_reference__products') }} as b
    on a.sku = b.sku
    and a.valid_from < b.valid_from
    and a.valid_until >= b.valid_from
