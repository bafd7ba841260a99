-- mart_category_sales: what each category sells each day.
-- From: sales_lines (lines of non-cancelled orders, with the product's current category).
-- Grain: one row per (day, category) with at least one sale; category_id is null for products missing from the lake.
-- orders: distinct orders with a line in the category; units: items; revenue_cents: sum of line totals.
SELECT
    day,
    category_id,
    category_name,
    CAST(COUNT(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(SUM(quantity) AS BIGINT) AS units,
    CAST(SUM(line_total_cents) AS BIGINT) AS revenue_cents
FROM sales_lines
GROUP BY day, category_id, category_name
