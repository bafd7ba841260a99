-- mart_order_status_daily: orders by their current status per day placed (UTC), cancelled ones included,
-- for the cancellation rate and the fulfilment backlog (placed but not shipped).
-- From: clean_orders.
-- Grain: one row per (day, status) with at least one order.
-- orders: orders placed that day now in that status; total_cents: their order totals.
SELECT
    placed_day AS day,
    status,
    CAST(COUNT(*) AS BIGINT) AS orders,
    CAST(SUM(total_cents) AS BIGINT) AS total_cents
FROM clean_orders
GROUP BY placed_day, status
