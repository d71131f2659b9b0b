-- Online order lines as sales lines (one row per order line), in the shape of
-- sales_line_columns(). Rules (data/raw/README.md):
--   gross_sales = quantity x unit_price; discounts = promo_discount (line) + the order-level
--   coupon_amount + platform_subsidy allocated to the order's lines in proportion to each line's
--   gross, rounded to cents, the rounding remainder going to the line with the largest gross
--   (lowest line_no on ties) so that the allocation adds up exactly to the order's amount;
--   business date = Asia/Shanghai date of created_at; cost = unit_cost valid on that date.
-- Cancelled orders and lines that cannot be valued carry a reject_reason (see
-- int_sales_lines_rejected) instead of disappearing.
with

order_lines as {{ inlined() }} (

    select * from {{ ref('stg_online__order_lines') }}
    where {{ incremental_window('order_date') }}

),

products as (

    select * from {{ ref('stg_reference__products') }}

),

known_skus as (

    select distinct sku from products

),

channels as (

    select * from {{ ref('ref_channels') }}

),

city_lookup as (

    select * from {{ ref('int_city_lookup') }}

),

-- grossed (and so order_lines) is read twice, by the allocation and by the join back to it:
-- inlined(), or DuckDB would first store every wide order line of the window.
grossed as {{ inlined() }} (

    select
        order_lines.*,
        cast(quantity * unit_price as decimal(18, 2)) as line_gross,
        cast(coupon_amount + platform_subsidy as decimal(18, 2)) as order_level_discount
    from order_lines

),

-- The allocation runs on a narrow projection and is joined back: window functions carry every
-- column of their input through the sort, and order lines are wide. Only the lines of orders
-- with an order-level discount take part: every share of a zero amount is zero, rounded or
-- not, and so is its remainder (about half the lines at 30M order lines: the windows and the
-- join back then sort and hash half as many rows). Each line carries its order record's
-- amounts, so an order's lines are all in or all out; only an order whose re-delivery left
-- out some of its lines mixes two deliveries, and is then allocated over the lines whose
-- delivery carries a discount.
allocation_inputs as (

    select
        order_line_id,
        order_id,
        line_no,
        line_gross,
        order_level_discount
    from grossed
    where order_level_discount <> 0

),

ranked as (

    select
        allocation_inputs.*,
        sum(line_gross) over (partition by order_id) as order_gross,
        row_number() over (partition by order_id order by line_gross desc, line_no asc)
            as gross_rank
    from allocation_inputs

),

proportional as (

    select
        ranked.*,
        case
            when order_gross = 0
                then
                    case when gross_rank = 1 then order_level_discount else {{ money_zero() }} end
            else {{ money('order_level_discount * line_gross / order_gross') }}
        end as proportional_discount
    from ranked

),

allocation as (

    select
        order_line_id,
        cast(
            proportional_discount
            + case
                when gross_rank = 1
                    then order_level_discount
                        - sum(proportional_discount) over (partition by order_id)
                else 0
            end
            as decimal(18, 2)
        ) as allocated_order_discount
    from proportional

),

allocated as (

    select
        grossed.*,
        coalesce(allocation.allocated_order_discount, {{ money_zero() }})
            as allocated_order_discount
    from grossed
    left join allocation on grossed.order_line_id = allocation.order_line_id

),

valued as (

    select
        allocated.*,
        products.series,
        products.product_line,
        products.unit_cost,
        city_lookup.region,
        city_lookup.province_code,
        city_lookup.city_code,
        city_lookup.city_tier,
        case
            when allocated.order_status = 'cancelled' then 'cancelled_order'
            when allocated.order_status <> 'completed' or allocated.order_status is null
                then 'unknown_order_status'
            when channels.channel is null then 'unknown_channel'
            when allocated.quantity is null or allocated.quantity <= 0
                or allocated.unit_price is null then 'invalid_quantity_or_price'
            when known_skus.sku is null then 'unknown_sku'
            when products.sku is null then 'no_product_cost_on_date'
        end as reject_reason
    from allocated
    left join channels
        on allocated.channel = channels.channel
        and channels.channel_group = 'online'
    left join known_skus
        on allocated.sku = known_skus.sku
    left join products
        on allocated.sku = products.sku
        and allocated.order_date between products.valid_from and products.valid_until
    left join city_lookup
        on city_lookup.province_key = lower(allocated.receiver_province)
        and city_lookup.city_key = lower(allocated.receiver_city)

),

-- Not sorted by date, unlike the smaller channel tables (stored_in_date_order): the rows keep
-- much of the raw table's business-date order (ingestion loads the files in date order, across
-- platforms), and the sort would only tighten it. At 30M order lines (16.8M online lines, 2
-- threads, 2 GB), alone: 25.3-26.1 s without the sort, 34.4-34.9 s with it; a row group spans
-- 36 days (median; a handful up to the whole history) instead of 10, and a month's lines lie in
-- 5-7 row groups instead of 3-5. The columns read from the feed, the allocation and the lookups
-- are selected first; the constants and the columns derived from others (the line id, month,
-- net amounts, cost) are computed on them below.
in_feed_order as (

    select
        order_line_id,
        order_date,
        channel,
        region,
        province_code,
        city_code,
        city_tier,
        sku,
        series,
        product_line,
        quantity,
        line_gross,
        promo_discount,
        order_level_discount,
        allocated_order_discount,
        unit_cost,
        order_id,
        customer_id,
        _source_file,
        _source_row,
        _loaded_at,
        reject_reason
    from valued

)

select
    'online-sale-' || order_line_id as sales_line_id,
    'sale' as line_type,
    order_date as business_date,
    {{ month_start('order_date') }} as month,
    'online' as channel_group,
    channel,
    region,
    province_code as province,
    city_code,
    city_tier,
    'cn' as country,
    cast(null as {{ dbt.type_string() }}) as store_id,
    cast(null as {{ dbt.type_string() }}) as distributor_id,
    sku,
    series,
    product_line,
    quantity as quantity_sold,
    0 as quantity_returned,
    quantity as net_units,
    line_gross as gross_sales,
    cast(promo_discount + allocated_order_discount as decimal(18, 2)) as discounts,
    {{ money_zero() }} as returns,
    {{ money_zero() }} as rebates,
    {{ net_sales('line_gross', 'promo_discount + allocated_order_discount', 'null', 'null') }}
        as net_sales,
    unit_cost,
    {{ money('quantity * unit_cost') }} as cogs,
    'CNY' as currency,
    cast(1 as decimal(18, 10)) as fx_rate,
    order_id,
    customer_id,
    'online_order_lines' as source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason,
    -- audit columns of the allocation (not part of the unified shape)
    order_level_discount,
    allocated_order_discount,
    promo_discount
from in_feed_order
