-- mart_customer_sales_daily: what each customer bought in each category each day, so distinct customers can be
-- counted over any date range and category (a sum of daily distinct counts would count a customer once per day).
-- From: sales_lines (lines of non-cancelled orders, with the product's current category).
-- Grain: one row per (day, customer_id, category_id) with at least one sale; category_id is null for products
-- missing from the lake.
-- orders: distinct orders with a line in the category; units: items; revenue_cents: sum of line totals.
SELECT
    day,
    customer_id,
    category_id,
    CAST(COUNT(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(SUM(quantity) AS BIGINT) AS units,
    CAST(SUM(line_total_cents) AS BIGINT) AS revenue_cents
FROM sales_lines
GROUP BY day, customer_id, category_id
