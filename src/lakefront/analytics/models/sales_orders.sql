-- sales_orders: the orders that count as sales (every status but cancelled), each with its customer's
-- first sale day, so marts can tell new customers from returning ones, and its units (sum of line quantities).
-- From: clean_orders, clean_order_lines.
-- Grain: one row per non-cancelled order.
WITH units AS (
    SELECT order_id, CAST(SUM(quantity) AS BIGINT) AS units
    FROM clean_order_lines
    GROUP BY order_id
)
SELECT
    o.id AS order_id,
    o.customer_id,
    o.total_cents,
    o.placed_at,
    o.placed_day AS day,
    MIN(o.placed_day) OVER (PARTITION BY o.customer_id) AS first_order_day,
    CAST(COALESCE(u.units, 0) AS BIGINT) AS units
FROM clean_orders AS o
LEFT JOIN units AS u ON u.order_id = o.id
WHERE o.status <> 'cancelled'
