-- mart_daily_sales: the shop's day: orders, revenue, average order value, customers and units sold.
-- From: sales_orders (non-cancelled orders, dated by the UTC date of placed_at).
-- Grain: one row per day with at least one non-cancelled order.
-- revenue_cents: sum of order totals, integer cents. average_order_value_cents: revenue / orders rounded half up.
-- customers: distinct buyers of the day = new_customers (their first non-cancelled order is that day)
-- + returning_customers (they had ordered on an earlier day). units: items sold (sum of line quantities).
SELECT
    day,
    CAST(COUNT(*) AS BIGINT) AS orders,
    CAST(SUM(total_cents) AS BIGINT) AS revenue_cents,
    CAST(FLOOR((2 * SUM(total_cents) + COUNT(*)) / (2 * COUNT(*))) AS BIGINT) AS average_order_value_cents,
    CAST(COUNT(DISTINCT customer_id) AS BIGINT) AS customers,
    CAST(COUNT(DISTINCT CASE WHEN first_order_day = day THEN customer_id END) AS BIGINT) AS new_customers,
    CAST(COUNT(DISTINCT CASE WHEN first_order_day < day THEN customer_id END) AS BIGINT) AS returning_customers,
    CAST(SUM(units) AS BIGINT) AS units
FROM sales_orders
GROUP BY day
