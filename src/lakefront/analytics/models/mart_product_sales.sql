-- mart_product_sales: every product ever sold, over the whole history in the lake: for "top products".
-- From: sales_lines (lines of non-cancelled orders).
-- Grain: one row per product with at least one sale.
-- units, revenue_cents (sum of line totals), orders (distinct orders), first_sold_day and last_sold_day (UTC),
-- revenue_rank: 1 for the best seller by revenue (ties share a rank).
SELECT
    product_id,
    product_name,
    category_id,
    category_name,
    units,
    revenue_cents,
    orders,
    first_sold_day,
    last_sold_day,
    CAST(RANK() OVER (ORDER BY revenue_cents DESC) AS BIGINT) AS revenue_rank
FROM (
    SELECT
        product_id,
        product_name,
        category_id,
        category_name,
        CAST(SUM(quantity) AS BIGINT) AS units,
        CAST(SUM(line_total_cents) AS BIGINT) AS revenue_cents,
        CAST(COUNT(DISTINCT order_id) AS BIGINT) AS orders,
        MIN(day) AS first_sold_day,
        MAX(day) AS last_sold_day
    FROM sales_lines
    GROUP BY product_id, product_name, category_id, category_name
) AS per_product
