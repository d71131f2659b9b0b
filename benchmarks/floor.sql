-- The floor: the three marts computed straight from the raw files with plain DuckDB SQL.
-- No orchestration, no raw/staging/intermediate tables, no checks, no lineage columns.
--
-- It implements the KPI rules of data/raw/README.md as the dbt models do (same grain, same
-- columns, same rounding), so that benchmarks/run.py can assert that its marts equal the
-- pipeline's. Placeholders filled in by benchmarks/floor.py:
--   ${RAW}    the raw directory
--   ${POS}    the POS files decoded from GB18030 to UTF-8 (same file names)
--   ${SEEDS}  dbt_project/seeds (ref_cities.csv and the other static lookups)
-- and the Arrow table `sell_in_cells` (distributor workbooks read with python-calamine: one
-- row per invoice line, cells as text, plus distributor_id / report_month / _source_row).
--
-- Deliberately simpler than ingestion where the generated data allows it (see README.md):
-- a record that cannot be typed is skipped (ingestion quarantines it), a distributor total row
-- is not reconciled, and byte-identical re-deliveries are collapsed with DISTINCT ON.

SET TimeZone = 'UTC';

-- a rate or share as the marts store it: DECIMAL(18,6), null on a zero or null denominator
CREATE OR REPLACE TEMP MACRO floor_ratio(n, d) AS
    CASE WHEN d IS NULL OR d = 0 THEN NULL
         ELSE cast(round(cast(n AS double) / cast(d AS double), 6) AS decimal(18, 6)) END;

-- ---------------------------------------------------------------- reference data and seeds
CREATE OR REPLACE TEMP TABLE ref_cities AS
SELECT * FROM read_csv('${SEEDS}/ref_cities.csv', header = true, all_varchar = true);
CREATE OR REPLACE TEMP TABLE ref_channels AS
SELECT * FROM read_csv('${SEEDS}/ref_channels.csv', header = true, all_varchar = true);
CREATE OR REPLACE TEMP TABLE ref_regions AS
SELECT * FROM read_csv('${SEEDS}/ref_regions.csv', header = true, all_varchar = true);
CREATE OR REPLACE TEMP TABLE ref_city_tiers AS
SELECT * FROM read_csv('${SEEDS}/ref_city_tiers.csv', header = true, all_varchar = true);
CREATE OR REPLACE TEMP TABLE ref_countries AS
SELECT * EXCLUDE (launched_on), cast(launched_on AS date) AS launched_on
FROM read_csv('${SEEDS}/ref_countries.csv', header = true, all_varchar = true);
CREATE OR REPLACE TEMP TABLE ref_product_lines AS
SELECT * FROM read_csv('${SEEDS}/ref_product_lines.csv', header = true, all_varchar = true);

-- accepted spellings of provinces and cities -> city (ambiguous spellings dropped)
CREATE OR REPLACE TEMP TABLE city_lookup AS
WITH city_keys AS (
    SELECT city_code, lower(trim(city_name_zh)) AS k FROM ref_cities
    UNION SELECT city_code, lower(trim(city_name_en)) FROM ref_cities
    UNION SELECT city_code, lower(trim(city_code)) FROM ref_cities
    UNION SELECT city_code, substring(trim(city_name_zh), 1, length(trim(city_name_zh)) - 1)
          FROM ref_cities WHERE trim(city_name_zh) LIKE '%市'
), province_keys AS (
    SELECT DISTINCT province_code, lower(trim(province_name_zh)) AS k FROM ref_cities
    UNION SELECT DISTINCT province_code, lower(trim(province_name_en)) FROM ref_cities
    UNION SELECT DISTINCT province_code, lower(trim(province_code)) FROM ref_cities
    UNION SELECT DISTINCT province_code,
              substring(trim(province_name_zh), 1, length(trim(province_name_zh)) - 1)
          FROM ref_cities WHERE trim(province_name_zh) LIKE '%省' OR trim(province_name_zh) LIKE '%市'
)
SELECT p.k AS province_key, c.k AS city_key, r.city_code, r.region, r.city_tier
FROM ref_cities AS r
JOIN city_keys AS c ON r.city_code = c.city_code
JOIN province_keys AS p ON r.province_code = p.province_code
QUALIFY count(*) OVER (PARTITION BY p.k, c.k) = 1;

CREATE OR REPLACE TEMP TABLE products AS
SELECT DISTINCT ON (upper(trim(sku)), cast(valid_from AS date))
    upper(trim(sku)) AS sku,
    upper(trim(series)) AS series,
    lower(trim(product_line)) AS product_line,
    cast(unit_cost AS decimal(18, 2)) AS unit_cost,
    cast(valid_from AS date) AS valid_from,
    coalesce(cast(valid_to AS date), DATE '9999-12-31') AS valid_until
FROM read_csv('${RAW}/reference/products.csv', header = true, all_varchar = true);

CREATE OR REPLACE TEMP TABLE stores AS
SELECT s.store_id, l.city_code, l.region, l.city_tier
FROM (
    SELECT DISTINCT ON (trim(store_id)) trim(store_id) AS store_id,
           trim(province) AS province, trim(city) AS city
    FROM read_csv('${RAW}/reference/stores.csv', header = true, all_varchar = true)
) AS s
LEFT JOIN city_lookup AS l ON l.province_key = lower(s.province) AND l.city_key = lower(s.city);

CREATE OR REPLACE TEMP TABLE distributors AS
SELECT d.distributor_id, coalesce(nullif(d.region, ''), l.region) AS region,
       l.city_code, l.city_tier
FROM (
    SELECT DISTINCT ON (trim(distributor_id)) trim(distributor_id) AS distributor_id,
           lower(trim(region)) AS region, trim(province) AS province, trim(city) AS city
    FROM read_csv('${RAW}/reference/distributors.csv', header = true, all_varchar = true)
) AS d
LEFT JOIN city_lookup AS l ON l.province_key = lower(d.province) AND l.city_key = lower(d.city);

CREATE OR REPLACE TEMP TABLE fx_rates AS
SELECT DISTINCT ON (upper(trim(currency)), cast(rate_date AS date))
    cast(rate_date AS date) AS rate_date, upper(trim(currency)) AS currency,
    cast(cny_per_unit AS decimal(18, 10)) AS cny_per_unit
FROM read_csv('${RAW}/reference/fx_rates.csv', header = true, all_varchar = true);

CREATE OR REPLACE TEMP TABLE targets AS
SELECT DISTINCT ON (metric, period_type, period_start, region, channel_group, product_line, series) *
FROM (
    SELECT lower(trim(period_type)) AS period_type, cast(period_start AS date) AS period_start,
           lower(trim(region)) AS region, lower(trim(channel_group)) AS channel_group,
           lower(trim(product_line)) AS product_line,
           CASE WHEN lower(trim(series)) = 'all' THEN 'all' ELSE upper(trim(series)) END AS series,
           lower(trim(metric)) AS metric, cast(target_value AS decimal(18, 2)) AS target_value
    FROM read_csv('${RAW}/reference/targets.csv', header = true, all_varchar = true)
);

-- ---------------------------------------------------------------- online orders and refunds
-- an order line delivered twice (re-sent file, repeated order) counts once
CREATE OR REPLACE TEMP TABLE online_lines AS
SELECT DISTINCT ON (order_id, line_no) *
FROM (
    SELECT order_id,
           lower(trim(platform)) AS channel,
           lower(trim(status)) AS order_status,
           cast(timezone('Asia/Shanghai', created_at) AS date) AS order_date,
           buyer_id AS customer_id,
           trim(receiver_province) AS province,
           trim(receiver_city) AS city,
           cast(coalesce(coupon_amount, 0) + coalesce(platform_subsidy, 0) AS decimal(18, 2))
               AS order_discount,
           l.line_no AS line_no,
           upper(trim(l.sku)) AS sku,
           l.quantity AS quantity,
           l.unit_price AS unit_price,
           cast(coalesce(l.promo_discount, 0) AS decimal(18, 2)) AS promo_discount
    FROM (
        SELECT *, unnest(lines) AS l
        FROM read_json('${RAW}/online/*/*_orders_*.jsonl', format = 'newline_delimited',
                       ignore_errors = true,
                       columns = {order_id: 'VARCHAR', platform: 'VARCHAR',
                                  created_at: 'TIMESTAMPTZ', status: 'VARCHAR',
                                  buyer_id: 'VARCHAR', receiver_province: 'VARCHAR',
                                  receiver_city: 'VARCHAR', coupon_amount: 'DECIMAL(18,2)',
                                  platform_subsidy: 'DECIMAL(18,2)',
                                  lines: 'STRUCT(line_no INTEGER, sku VARCHAR, quantity INTEGER, unit_price DECIMAL(18,2), promo_discount DECIMAL(18,2))[]'})
        WHERE order_id IS NOT NULL AND created_at IS NOT NULL AND status IS NOT NULL
    )
    WHERE l.line_no IS NOT NULL AND l.sku IS NOT NULL AND l.quantity IS NOT NULL
      AND l.unit_price IS NOT NULL
);

CREATE OR REPLACE TEMP TABLE sales_lines AS
WITH grossed AS (
    SELECT *, cast(quantity * unit_price AS decimal(18, 2)) AS line_gross FROM online_lines
), ranked AS (
    SELECT *,
           sum(line_gross) OVER (PARTITION BY order_id) AS order_gross,
           row_number() OVER (PARTITION BY order_id ORDER BY line_gross DESC, line_no) AS gross_rank
    FROM grossed
), proportional AS (
    SELECT *,
           CASE WHEN order_gross = 0
                THEN CASE WHEN gross_rank = 1 THEN order_discount ELSE cast(0 AS decimal(18, 2)) END
                ELSE cast(round(order_discount * line_gross / order_gross, 2) AS decimal(18, 2))
           END AS proportional_discount
    FROM ranked
), allocated AS (
    SELECT *,
           cast(proportional_discount
                + CASE WHEN gross_rank = 1
                       THEN order_discount - sum(proportional_discount) OVER (PARTITION BY order_id)
                       ELSE 0 END AS decimal(18, 2)) AS allocated_discount
    FROM proportional
)
SELECT 'sale' AS line_type, a.order_date AS business_date, a.channel_group, a.channel,
       g.region, g.city_code, g.city_tier,
       NULL::VARCHAR AS store_id, NULL::VARCHAR AS distributor_id,
       p.series, p.product_line,
       a.quantity AS net_units,
       a.line_gross AS gross_sales,
       cast(a.promo_discount + a.allocated_discount AS decimal(18, 2)) AS discounts,
       cast(0 AS decimal(18, 2)) AS returns,
       cast(0 AS decimal(18, 2)) AS rebates,
       cast(a.line_gross - (a.promo_discount + a.allocated_discount) AS decimal(18, 2)) AS net_sales,
       cast(round(a.quantity * p.unit_cost, 2) AS decimal(18, 2)) AS cogs,
       a.order_id, a.customer_id
FROM (SELECT allocated.*, c.channel_group FROM allocated
      JOIN ref_channels AS c ON c.channel = allocated.channel AND c.channel_group = 'online') AS a
JOIN products AS p ON p.sku = a.sku AND a.order_date BETWEEN p.valid_from AND p.valid_until
LEFT JOIN city_lookup AS g ON g.province_key = lower(a.province) AND g.city_key = lower(a.city)
WHERE a.order_status = 'completed' AND a.quantity > 0;

-- refunds: booked on the refund's Asia/Shanghai date, units at the order date's cost
INSERT INTO sales_lines
SELECT 'refund', r.refund_date, 'online', o.channel, g.region, g.city_code, g.city_tier,
       NULL, NULL, p.series, p.product_line,
       -r.refund_quantity,
       0, 0, r.refund_amount, 0,
       cast(-r.refund_amount AS decimal(18, 2)),
       cast(round(-r.refund_quantity * p.unit_cost, 2) AS decimal(18, 2)),
       r.order_id, o.customer_id
FROM (
    SELECT DISTINCT ON (refund_id) refund_id, order_id, line_no,
           coalesce(refund_quantity, 0) AS refund_quantity, refund_amount,
           cast(timezone('Asia/Shanghai', refunded_at) AS date) AS refund_date
    FROM read_json('${RAW}/online/*/*_refunds_*.jsonl', format = 'newline_delimited',
                   ignore_errors = true,
                   columns = {refund_id: 'VARCHAR', order_id: 'VARCHAR', line_no: 'INTEGER',
                              refund_quantity: 'INTEGER', refund_amount: 'DECIMAL(18,2)',
                              refunded_at: 'TIMESTAMPTZ'})
    WHERE refund_id IS NOT NULL AND refunded_at IS NOT NULL
) AS r
JOIN online_lines AS o ON o.order_id = r.order_id AND o.line_no = r.line_no
JOIN products AS p ON p.sku = o.sku AND o.order_date BETWEEN p.valid_from AND p.valid_until
LEFT JOIN city_lookup AS g ON g.province_key = lower(o.province) AND g.city_key = lower(o.city)
WHERE o.order_status IS DISTINCT FROM 'cancelled'
  AND r.refund_amount >= 0 AND r.refund_quantity >= 0
  AND NOT coalesce(r.refund_quantity > o.quantity, false);

-- ---------------------------------------------------------------- store POS (decoded to UTF-8)
INSERT INTO sales_lines
SELECT CASE WHEN pos.quantity > 0 THEN 'sale' ELSE 'return' END,
       pos.business_date, 'store', 'store', s.region, s.city_code, s.city_tier,
       pos.store_id, NULL, p.series, p.product_line,
       pos.quantity,
       CASE WHEN pos.quantity > 0 THEN cast(pos.quantity * pos.list_price AS decimal(18, 2)) ELSE 0 END,
       CASE WHEN pos.quantity > 0 THEN pos.discount_amount ELSE 0 END,
       CASE WHEN pos.quantity < 0 THEN -pos.paid_amount ELSE 0 END,
       0,
       CASE WHEN pos.quantity > 0
            THEN cast(cast(pos.quantity * pos.list_price AS decimal(18, 2)) - pos.discount_amount AS decimal(18, 2))
            ELSE cast(pos.paid_amount AS decimal(18, 2)) END,
       cast(round(pos.quantity * p.unit_cost, 2) AS decimal(18, 2)),
       pos.store_id || '-' || pos.receipt_no, NULL
FROM (
    SELECT DISTINCT ON (store_id, receipt_no, line_no) *
    FROM (
        SELECT try_cast("销售日期" AS date) AS business_date,
               trim("门店编号") AS store_id,
               trim("小票号") AS receipt_no,
               try_cast("行号" AS integer) AS line_no,
               upper(trim("商品编码")) AS sku,
               try_cast("数量" AS integer) AS quantity,
               try_cast("零售价" AS decimal(18, 2)) AS list_price,
               coalesce(try_cast("折扣金额" AS decimal(18, 2)), 0) AS discount_amount,
               try_cast("实收金额" AS decimal(18, 2)) AS paid_amount
        FROM (
            SELECT * FROM read_csv('${POS}/std/pos_*.csv', header = true, auto_detect = false,
                                   delim = ',', quote = '"',
                                   columns = {'销售日期': 'VARCHAR', '小票号': 'VARCHAR',
                                              '门店编号': 'VARCHAR', '门店名称': 'VARCHAR',
                                              '行号': 'VARCHAR', '商品编码': 'VARCHAR',
                                              '商品名称': 'VARCHAR', '数量': 'VARCHAR',
                                              '零售价': 'VARCHAR', '折扣金额': 'VARCHAR',
                                              '实收金额': 'VARCHAR', '原小票号': 'VARCHAR',
                                              '收银员': 'VARCHAR', '交易时间': 'VARCHAR'})
            UNION ALL BY NAME
            -- files with another header (an extra column): read by name, extra columns dropped
            SELECT * FROM read_csv('${POS}/odd/pos_*.csv', header = true, all_varchar = true,
                                   union_by_name = true)
        )
    )
    WHERE business_date IS NOT NULL AND line_no IS NOT NULL AND quantity IS NOT NULL
      AND list_price IS NOT NULL AND paid_amount IS NOT NULL
      AND store_id IS NOT NULL AND receipt_no IS NOT NULL AND sku IS NOT NULL
) AS pos
JOIN stores AS s ON s.store_id = pos.store_id
JOIN products AS p ON p.sku = pos.sku AND pos.business_date BETWEEN p.valid_from AND p.valid_until
WHERE pos.quantity <> 0;

-- ---------------------------------------------------------------- distributor sell-in
CREATE OR REPLACE TEMP TABLE sell_in AS
SELECT d.region, d.city_code, d.city_tier, x.*,
       cast(date_trunc('month', x.business_date) AS date) AS month
FROM (
    SELECT trim(distributor_id) AS distributor_id,
           cast(report_month AS date) AS report_month,
           _source_row,
           cast("日期" AS date) AS business_date,
           trim("单据号") AS document_no,
           nullif(upper(trim("商品编码")), '') AS sku,
           cast(coalesce(cast("数量" AS integer), 0) AS integer) AS quantity,
           cast("标准单价" AS decimal(18, 2)) AS list_price,
           cast("进货金额" AS decimal(18, 2)) AS invoiced_amount,
           CASE WHEN upper(trim("单据号")) LIKE 'FL%' THEN 'rebate'
                WHEN cast("数量" AS integer) > 0 THEN 'sale'
                WHEN cast("数量" AS integer) < 0 THEN 'return' END AS line_type
    FROM sell_in_cells
) AS x
JOIN distributors AS d ON d.distributor_id = x.distributor_id
WHERE x.line_type IS NOT NULL AND x.invoiced_amount IS NOT NULL
  AND NOT (x.line_type = 'sale' AND x.list_price IS NULL);

CREATE OR REPLACE TEMP TABLE distributor_goods AS
SELECT s.*, p.series, p.product_line, p.unit_cost
FROM sell_in AS s
JOIN products AS p ON p.sku = s.sku AND s.business_date BETWEEN p.valid_from AND p.valid_until
WHERE s.line_type IN ('sale', 'return');

INSERT INTO sales_lines
SELECT line_type, business_date, 'distributor', 'distributor', region, city_code, city_tier,
       NULL, distributor_id, series, product_line,
       quantity,
       CASE WHEN line_type = 'sale' THEN cast(round(quantity * list_price, 2) AS decimal(18, 2)) ELSE 0 END,
       CASE WHEN line_type = 'sale'
            THEN cast(cast(round(quantity * list_price, 2) AS decimal(18, 2)) - invoiced_amount AS decimal(18, 2))
            ELSE 0 END,
       CASE WHEN line_type = 'return' THEN -invoiced_amount ELSE 0 END,
       0,
       invoiced_amount,
       cast(round(quantity * unit_cost, 2) AS decimal(18, 2)),
       CASE WHEN line_type = 'sale' THEN distributor_id || '-' || document_no END,
       distributor_id
FROM distributor_goods;

-- standard rebate lines and the tiered extra rebate, spread over the distributor-month's goods
-- lines by 进货金额 (cents, remainder to the largest line, then the lowest row)
INSERT INTO sales_lines
WITH monthly AS (
    SELECT distributor_id, month, max(business_date) AS last_business_date,
           cast(sum(invoiced_amount) AS decimal(18, 2)) AS purchases
    FROM distributor_goods
    GROUP BY distributor_id, month
), ytd AS (
    SELECT *, cast(sum(purchases) OVER (PARTITION BY distributor_id, year(month) ORDER BY month
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   AS decimal(18, 2)) AS ytd_purchases
    FROM monthly
), accrued AS (
    SELECT *, CASE WHEN ytd_purchases > 5000000
                   THEN cast(round(ytd_purchases * 0.05, 2) AS decimal(18, 2))
                   ELSE cast(0 AS decimal(18, 2)) END AS accrued
    FROM ytd
), extra AS (
    SELECT *, cast(accrued - coalesce(lag(accrued) OVER (PARTITION BY distributor_id, year(month)
                                                          ORDER BY month), 0) AS decimal(18, 2)) AS extra_rebate
    FROM accrued
), events AS (
    SELECT 'rebate|' || distributor_id || '|' || cast(report_month AS varchar) || '|'
               || cast(_source_row AS varchar) AS rebate_id,
           'rebate' AS line_type, distributor_id, month, business_date,
           cast(-invoiced_amount AS decimal(18, 2)) AS amount
    FROM sell_in WHERE line_type = 'rebate'
    UNION ALL
    SELECT 'extra|' || distributor_id || '|' || cast(month AS varchar), 'extra_rebate',
           distributor_id, month, last_business_date, extra_rebate
    FROM extra WHERE extra_rebate <> 0
), goods AS (
    SELECT distributor_id, month, series, product_line, invoiced_amount, _source_row,
           sum(invoiced_amount) OVER (PARTITION BY distributor_id, month) AS month_amount,
           row_number() OVER (PARTITION BY distributor_id, month
                              ORDER BY invoiced_amount DESC, _source_row,
                                       'distributor-' || distributor_id || '-' || cast(report_month AS varchar)
                                           || '-' || cast(_source_row AS varchar)) AS weight_rank
    FROM distributor_goods WHERE line_type = 'sale'
), proportional AS (
    SELECT e.*, g.series, g.product_line, g.weight_rank,
           CASE WHEN g._source_row IS NULL THEN e.amount
                WHEN g.month_amount = 0 THEN CASE WHEN g.weight_rank = 1 THEN e.amount ELSE 0 END
                ELSE cast(round(e.amount * g.invoiced_amount / g.month_amount, 2) AS decimal(18, 2))
           END AS proportional
    FROM events AS e
    LEFT JOIN goods AS g ON g.distributor_id = e.distributor_id AND g.month = e.month
), allocated AS (
    SELECT *, cast(proportional + CASE WHEN weight_rank = 1
                                       THEN amount - sum(proportional) OVER (PARTITION BY rebate_id)
                                       ELSE 0 END AS decimal(18, 2)) AS allocated
    FROM proportional
)
SELECT a.line_type, a.business_date, 'distributor', 'distributor', d.region, d.city_code, d.city_tier,
       NULL, a.distributor_id, a.series, a.product_line,
       0, 0, 0, 0, a.allocated, cast(-a.allocated AS decimal(18, 2)), 0,
       NULL, a.distributor_id
FROM allocated AS a
JOIN distributors AS d ON d.distributor_id = a.distributor_id;

-- ---------------------------------------------------------------- overseas marketplaces
INSERT INTO sales_lines
WITH shopee AS (
    SELECT DISTINCT ON (country, order_id, sku) *
    FROM (
        SELECT regexp_extract(filename, '/shopee/([a-z]{2})/', 1) AS country,
               trim("Order ID") AS order_id,
               lower(trim("Order Status")) AS status,
               cast(strptime("Order Creation Date", '%Y-%m-%d %H:%M') AS date) AS business_date,
               "Username (Buyer)" AS customer_id,
               upper(trim("SKU Reference No.")) AS sku,
               cast("Original Price" AS decimal(18, 2)) AS original_price,
               cast("Deal Price" AS decimal(18, 2)) AS deal_price,
               cast("Quantity" AS integer) AS quantity,
               cast(coalesce(cast("Seller Voucher" AS decimal(18, 2)), 0) AS decimal(18, 2)) AS seller_voucher,
               cast(coalesce(cast("Shopee Voucher" AS decimal(18, 2)), 0) AS decimal(18, 2)) AS shopee_voucher,
               coalesce(cast("Returned Quantity" AS integer), 0) AS returned_quantity,
               cast(coalesce(cast("Refund Amount" AS decimal(18, 2)), 0) AS decimal(18, 2)) AS refund_amount
        FROM read_csv('${RAW}/overseas/shopee/*/shopee_*_orders_*.csv', header = true,
                      all_varchar = true, filename = true)
    )
), lazada AS (
    SELECT DISTINCT ON (country, order_item_id) *
    FROM (
        SELECT regexp_extract(filename, '/lazada/([a-z]{2})/', 1) AS country,
               trim("orderItemId") AS order_item_id,
               trim("orderNumber") AS order_id,
               cast(strptime("createTime", '%d %b %Y %H:%M:%S') AS date) AS business_date,
               upper(trim("sellerSku")) AS sku,
               cast("unitPrice" AS decimal(18, 2)) AS unit_price,
               cast("paidPrice" AS decimal(18, 2)) AS paid_price,
               upper(trim(currency)) AS currency,
               lower(trim(status)) AS status,
               "buyerId" AS customer_id
        FROM read_csv('${RAW}/overseas/lazada/*/lazada_*_orders_*.csv', header = true,
                      all_varchar = true, filename = true)
    )
), local_lines AS (
    SELECT 'shopee' AS channel, s.country, s.business_date, s.order_id, s.customer_id, s.sku,
           c.currency, s.quantity AS quantity_sold, s.returned_quantity AS quantity_returned,
           cast(s.original_price * s.quantity AS decimal(18, 2)) AS gross_local,
           cast((s.original_price - s.deal_price) * s.quantity + s.seller_voucher + s.shopee_voucher
                AS decimal(18, 2)) AS discounts_local,
           s.refund_amount AS returns_local
    FROM shopee AS s
    JOIN ref_countries AS c ON c.country = s.country
    WHERE s.status IN ('completed', 'return/refund')
      AND s.quantity > 0 AND NOT coalesce(s.returned_quantity > s.quantity, false)
    UNION ALL
    SELECT 'lazada', country, business_date, order_id, customer_id, sku, currency,
           1, CASE WHEN status = 'returned' THEN 1 ELSE 0 END,
           unit_price,
           cast(unit_price - paid_price AS decimal(18, 2)),
           CASE WHEN status = 'returned' THEN paid_price ELSE cast(0 AS decimal(18, 2)) END
    FROM lazada
    WHERE status IN ('delivered', 'returned') AND unit_price IS NOT NULL AND paid_price IS NOT NULL
      AND currency IS NOT NULL
), converted AS (
    SELECT l.*, p.series, p.product_line, p.unit_cost,
           cast(round(l.gross_local * f.cny_per_unit, 2) AS decimal(18, 2)) AS gross_sales,
           cast(round(l.discounts_local * f.cny_per_unit, 2) AS decimal(18, 2)) AS discounts,
           cast(round(l.returns_local * f.cny_per_unit, 2) AS decimal(18, 2)) AS returns
    FROM local_lines AS l
    JOIN fx_rates AS f ON f.currency = l.currency AND f.rate_date = l.business_date
    JOIN products AS p ON p.sku = l.sku AND l.business_date BETWEEN p.valid_from AND p.valid_until
)
SELECT 'sale', business_date, 'overseas', channel, country, NULL, NULL, NULL, NULL,
       series, product_line, quantity_sold - quantity_returned,
       gross_sales, discounts, returns, 0,
       cast(gross_sales - discounts - returns AS decimal(18, 2)),
       cast(round((quantity_sold - quantity_returned) * unit_cost, 2) AS decimal(18, 2)),
       order_id, customer_id
FROM converted;

-- ================================================================ mart 1: channel_performance
CREATE OR REPLACE TEMP TABLE channel_performance AS
WITH monthly AS (
    SELECT cast(date_trunc('month', business_date) AS date) AS month, channel_group, channel,
           sum(gross_sales) AS gross_sales, sum(discounts) AS discounts, sum(returns) AS returns,
           sum(rebates) AS rebates, sum(net_sales) AS net_sales, sum(cogs) AS cogs,
           sum(net_units) AS units,
           count(DISTINCT CASE WHEN line_type = 'sale' THEN order_id END) AS orders,
           count(DISTINCT CASE WHEN line_type = 'sale' THEN customer_id END) AS customers,
           count(DISTINCT CASE WHEN line_type = 'sale' THEN store_id END) AS active_stores,
           count(DISTINCT CASE WHEN line_type = 'sale' THEN distributor_id END) AS active_distributors
    FROM sales_lines
    GROUP BY ALL
), w AS (
    SELECT m.*,
           sum(m.net_sales) OVER (PARTITION BY m.month, m.channel_group) AS group_net_sales,
           sum(m.net_sales) OVER (PARTITION BY m.month) AS total_net_sales,
           sum(m.gross_sales) OVER (PARTITION BY m.month, m.channel_group) AS group_gross_sales,
           py.net_sales AS py_net_sales, py.gross_sales AS py_gross_sales
    FROM monthly AS m
    LEFT JOIN monthly AS py
        ON py.month = cast(m.month - INTERVAL 1 YEAR AS date)
        AND py.channel_group = m.channel_group AND py.channel = m.channel
)
SELECT w.month, w.channel_group, c.channel_group_name_zh, w.channel, c.channel_name_zh,
       cast(gross_sales AS decimal(18, 2)) AS gross_sales,
       cast(discounts AS decimal(18, 2)) AS discounts,
       cast(returns AS decimal(18, 2)) AS returns,
       cast(rebates AS decimal(18, 2)) AS rebates,
       cast(net_sales AS decimal(18, 2)) AS net_sales,
       cast(cogs AS decimal(18, 2)) AS cogs,
       cast(net_sales - cogs AS decimal(18, 2)) AS gross_margin,
       floor_ratio(net_sales - cogs, net_sales) AS gross_margin_rate,
       cast(orders AS bigint) AS orders,
       cast(units AS bigint) AS units,
       cast(customers AS bigint) AS customers,
       CASE WHEN orders > 0 THEN cast(round(net_sales / orders, 2) AS decimal(18, 2)) END AS avg_order_value,
       floor_ratio(net_sales, group_net_sales) AS share_of_group,
       floor_ratio(net_sales, total_net_sales) AS share_of_total,
       floor_ratio(gross_sales, group_gross_sales) AS share_of_group_gross_sales,
       floor_ratio(net_sales - py_net_sales, py_net_sales) AS yoy_growth_rate,
       floor_ratio(gross_sales - py_gross_sales, py_gross_sales) AS gross_sales_yoy_growth_rate,
       CASE WHEN w.channel_group = 'store' THEN cast(active_stores AS bigint) END AS active_stores,
       CASE WHEN w.channel_group = 'store' AND active_stores > 0
            THEN cast(round(gross_sales / active_stores, 2) AS decimal(18, 2)) END AS sales_per_store_month,
       CASE WHEN w.channel_group = 'distributor' THEN cast(active_distributors AS bigint) END
           AS active_distributors
FROM w
LEFT JOIN ref_channels AS c ON c.channel = w.channel;

-- ================================================================ mart 2: regional_coverage
CREATE OR REPLACE TEMP TABLE lines_in_periods AS
SELECT 'quarter' AS period_type, cast(date_trunc('quarter', business_date) AS date) AS period_start,
       channel_group, line_type, region, city_code, city_tier, store_id, distributor_id, net_sales
FROM sales_lines
UNION ALL
SELECT 'year', cast(date_trunc('year', business_date) AS date),
       channel_group, line_type, region, city_code, city_tier, store_id, distributor_id, net_sales
FROM sales_lines;

CREATE OR REPLACE TEMP TABLE regional_coverage AS
WITH bounds AS (
    SELECT min(business_date) AS first_date, max(business_date) AS last_date FROM sales_lines
), periods AS (
    SELECT DISTINCT period_type, period_start,
           CASE period_type WHEN 'quarter' THEN cast(period_start + INTERVAL 3 MONTH - INTERVAL 1 DAY AS date)
                            ELSE cast(period_start + INTERVAL 1 YEAR - INTERVAL 1 DAY AS date) END AS period_end
    FROM (
        SELECT 'quarter' AS period_type, cast(date_trunc('quarter', d) AS date) AS period_start
        FROM bounds, generate_series(first_date, last_date, INTERVAL 1 DAY) AS t(d)
        UNION ALL
        SELECT 'year', cast(date_trunc('year', d) AS date)
        FROM bounds, generate_series(first_date, last_date, INTERVAL 1 DAY) AS t(d)
    )
), scaffold AS (
    SELECT p.*, r.region, t.city_tier FROM periods AS p, ref_regions AS r, ref_city_tiers AS t
    WHERE r.region_group = 'domestic'
    UNION ALL
    SELECT p.*, r.region, 'all' FROM periods AS p, ref_regions AS r WHERE r.region_group = 'domestic'
    UNION ALL
    SELECT p.*, r.region, 'all' FROM periods AS p, ref_regions AS r
    JOIN ref_countries AS c ON c.country = r.region
    WHERE r.region_group = 'overseas' AND p.period_end >= c.launched_on
    UNION ALL
    SELECT p.*, 'all', t.city_tier FROM periods AS p, ref_city_tiers AS t
    UNION ALL
    SELECT p.*, 'all', 'all' FROM periods AS p
), sales AS (
    SELECT period_type, period_start,
           CASE WHEN grouping(region) = 1 THEN 'all' ELSE region END AS region,
           CASE WHEN grouping(city_tier) = 1 THEN 'all' ELSE city_tier END AS city_tier,
           sum(net_sales) AS net_sales,
           sum(CASE WHEN channel_group = 'store' THEN net_sales ELSE 0 END) AS store_net_sales,
           count(DISTINCT CASE WHEN channel_group = 'store' AND line_type = 'sale' THEN store_id END)
               AS active_stores,
           count(DISTINCT CASE WHEN channel_group = 'distributor' AND line_type = 'sale' THEN distributor_id END)
               AS active_distributors
    FROM lines_in_periods
    GROUP BY GROUPING SETS ((period_type, period_start, region, city_tier),
                            (period_type, period_start, region),
                            (period_type, period_start, city_tier),
                            (period_type, period_start))
), covered AS (
    SELECT DISTINCT l.period_type, l.period_start, c.city_code, c.region, c.city_tier
    FROM lines_in_periods AS l
    JOIN ref_cities AS c ON c.city_code = l.city_code
    WHERE l.line_type = 'sale' AND l.channel_group IN ('store', 'distributor')
), coverage AS (
    SELECT period_type, period_start,
           CASE WHEN grouping(region) = 1 THEN 'all' ELSE region END AS region,
           CASE WHEN grouping(city_tier) = 1 THEN 'all' ELSE city_tier END AS city_tier,
           count(*) AS cities_covered
    FROM covered
    GROUP BY GROUPING SETS ((period_type, period_start, region, city_tier),
                            (period_type, period_start, region),
                            (period_type, period_start, city_tier),
                            (period_type, period_start))
), city_counts AS (
    SELECT CASE WHEN grouping(region) = 1 THEN 'all' ELSE region END AS region,
           CASE WHEN grouping(city_tier) = 1 THEN 'all' ELSE city_tier END AS city_tier,
           count(*) AS cities_total
    FROM ref_cities
    GROUP BY GROUPING SETS ((region, city_tier), (region), (city_tier), ())
), distributor_targets AS (
    SELECT period_type, period_start, region, max(target_value) AS distributor_target
    FROM targets
    WHERE metric = 'active_distributors' AND channel_group IN ('all', 'distributor')
      AND product_line = 'all' AND series = 'all'
    GROUP BY ALL
), joined AS (
    SELECT s.period_type, s.period_start, s.period_end, s.region, s.city_tier,
           coalesce(cc.cities_total, 0) AS cities_total,
           coalesce(cv.cities_covered, 0) AS cities_covered,
           coalesce(sa.active_stores, 0) AS active_stores,
           coalesce(sa.active_distributors, 0) AS active_distributors,
           CASE WHEN s.city_tier = 'all' THEN dt.distributor_target END AS distributor_target,
           coalesce(sa.net_sales, 0) AS net_sales,
           coalesce(sa.store_net_sales, 0) AS store_net_sales
    FROM scaffold AS s
    LEFT JOIN sales AS sa USING (period_type, period_start, region, city_tier)
    LEFT JOIN coverage AS cv USING (period_type, period_start, region, city_tier)
    LEFT JOIN city_counts AS cc USING (region, city_tier)
    LEFT JOIN distributor_targets AS dt USING (period_type, period_start, region)
), totals AS (
    SELECT *, sum(CASE WHEN region = 'all' THEN store_net_sales END)
                  OVER (PARTITION BY period_type, period_start, city_tier) AS all_store_net_sales
    FROM joined
)
SELECT t.period_type, t.period_start, t.period_end, t.region,
       CASE WHEN t.region = 'all' THEN '全部' ELSE r.region_name_zh END AS region_name_zh,
       t.city_tier,
       CASE WHEN t.city_tier = 'all' THEN '全部' ELSE ct.city_tier_name_zh END AS city_tier_name_zh,
       cast(cities_total AS bigint) AS cities_total,
       cast(cities_covered AS bigint) AS cities_covered,
       floor_ratio(cities_covered, cities_total) AS coverage_rate,
       CASE WHEN cities_total > 0 THEN cast(1 - floor_ratio(cities_covered, cities_total) AS decimal(18, 6)) END
           AS blank_rate,
       cast(active_stores AS bigint) AS active_stores,
       cast(active_distributors AS bigint) AS active_distributors,
       cast(distributor_target AS bigint) AS distributor_target,
       cast(net_sales AS decimal(18, 2)) AS net_sales,
       cast(store_net_sales AS decimal(18, 2)) AS store_net_sales,
       floor_ratio(store_net_sales, all_store_net_sales) AS share_of_store_sales
FROM totals AS t
LEFT JOIN ref_regions AS r ON r.region = t.region
LEFT JOIN ref_city_tiers AS ct ON ct.city_tier = t.city_tier;

-- ================================================================ mart 3: target_attainment
CREATE OR REPLACE TEMP TABLE target_attainment AS
WITH as_of AS (
    SELECT min(business_date) AS first_date, max(business_date) AS as_of_date FROM sales_lines
), scoped AS (
    -- every daily amount under each of its 16 scopes (a dimension or 'all')
    SELECT business_date,
           CASE WHEN grouping(region) = 1 THEN 'all' ELSE region END AS region,
           CASE WHEN grouping(channel_group) = 1 THEN 'all' ELSE channel_group END AS channel_group,
           CASE WHEN grouping(product_line) = 1 THEN 'all' ELSE product_line END AS product_line,
           CASE WHEN grouping(series) = 1 THEN 'all' ELSE series END AS series,
           sum(net_sales) AS net_sales
    FROM sales_lines
    GROUP BY business_date, CUBE (region, channel_group, product_line, series)
), windows AS (
    SELECT t.*, a.first_date, a.as_of_date,
           CASE WHEN a.as_of_date >= t.period_end THEN 'complete'
                WHEN a.as_of_date >= t.period_start THEN 'running' ELSE 'future' END AS period_state,
           CASE WHEN a.as_of_date >= t.period_end THEN t.period_end ELSE a.as_of_date END AS actual_until,
           cast(date_diff('day', t.period_start, t.period_end) AS integer) + 1 AS period_days
    FROM (
        SELECT *, CASE period_type
                      WHEN 'month' THEN cast(period_start + INTERVAL 1 MONTH - INTERVAL 1 DAY AS date)
                      WHEN 'quarter' THEN cast(period_start + INTERVAL 3 MONTH - INTERVAL 1 DAY AS date)
                      WHEN 'year' THEN cast(period_start + INTERVAL 1 YEAR - INTERVAL 1 DAY AS date)
                  END AS period_end
        FROM targets WHERE metric = 'net_sales'
    ) AS t, as_of AS a
), wp AS (
    SELECT *, cast(period_start - INTERVAL 1 YEAR AS date) AS prior_start,
           cast(actual_until - INTERVAL 1 YEAR AS date) AS prior_until,
           CASE WHEN period_state = 'future' THEN 0
                ELSE cast(date_diff('day', period_start, actual_until) AS integer) + 1 END AS elapsed_days
    FROM windows
), actuals AS (
    SELECT w.period_type, w.period_start, w.region, w.channel_group, w.product_line, w.series,
           sum(CASE WHEN s.business_date BETWEEN w.period_start AND w.actual_until THEN s.net_sales END) AS actual,
           sum(CASE WHEN s.business_date BETWEEN w.prior_start AND w.prior_until THEN s.net_sales END) AS prior_actual
    FROM wp AS w
    JOIN scoped AS s
        ON s.region = w.region AND s.channel_group = w.channel_group
        AND s.product_line = w.product_line AND s.series = w.series
        AND s.business_date BETWEEN w.prior_start AND w.actual_until
    GROUP BY ALL
), measured AS (
    SELECT w.*,
           cast(coalesce(a.actual, 0) AS decimal(18, 2)) AS actual,
           CASE WHEN w.prior_start >= w.first_date AND w.period_state <> 'future'
                THEN cast(coalesce(a.prior_actual, 0) AS decimal(18, 2)) END AS prior_year_actual,
           cast(round(w.target_value * w.elapsed_days / w.period_days, 2) AS decimal(18, 2)) AS target_pro_rata
    FROM wp AS w
    LEFT JOIN actuals AS a USING (period_type, period_start, region, channel_group, product_line, series)
), rated AS (
    SELECT *, CASE WHEN period_state = 'future' THEN NULL
                   ELSE floor_ratio(actual, target_pro_rata) END AS pro_rata_attainment_rate
    FROM measured
)
SELECT m.period_type, m.period_start, m.period_end, m.region,
       CASE WHEN m.region = 'all' THEN '全部' ELSE r.region_name_zh END AS region_name_zh,
       m.channel_group,
       CASE WHEN m.channel_group = 'all' THEN '全部' ELSE cg.channel_group_name_zh END AS channel_group_name_zh,
       m.product_line,
       CASE WHEN m.product_line = 'all' THEN '全部' ELSE pl.product_line_name_zh END AS product_line_name_zh,
       m.series,
       cast(m.target_value AS decimal(18, 2)) AS target,
       m.actual,
       cast(m.actual - m.target_value AS decimal(18, 2)) AS gap,
       floor_ratio(m.actual, m.target_value) AS attainment_rate,
       m.prior_year_actual,
       floor_ratio(m.actual - m.prior_year_actual, m.prior_year_actual) AS yoy_growth_rate,
       CASE WHEN m.pro_rata_attainment_rate IS NULL THEN NULL
            WHEN m.pro_rata_attainment_rate >= 1.0 THEN 'met'
            WHEN m.pro_rata_attainment_rate >= 0.9 THEN 'at_risk'
            ELSE 'missed' END AS status,
       m.period_state, m.as_of_date, m.target_pro_rata, m.pro_rata_attainment_rate
FROM rated AS m
LEFT JOIN ref_regions AS r ON r.region = m.region
LEFT JOIN (SELECT DISTINCT channel_group, channel_group_name_zh FROM ref_channels) AS cg
    ON cg.channel_group = m.channel_group
LEFT JOIN ref_product_lines AS pl ON pl.product_line = m.product_line;
