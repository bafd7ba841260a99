-- mart_funnel_daily: the view -> cart -> order funnel per day (UTC).
-- From: clean_events (page_view, add_to_cart, by the UTC date of occurred_at), sales_orders (non-cancelled orders).
-- Grain: one row per day with an event or an order.
-- sessions_with_view / sessions_with_cart: distinct sessions with at least one such event that day;
-- page_views, add_to_carts: events; orders: non-cancelled orders placed that day.
-- view_to_cart_rate = sessions_with_cart / sessions_with_view; cart_to_order_rate = orders / sessions_with_cart
-- (null when the denominator is 0).
WITH clicks AS (
    SELECT
        day,
        CAST(COUNT(DISTINCT CASE WHEN kind = 'page_view' THEN session_id END) AS BIGINT) AS sessions_with_view,
        CAST(COUNT(DISTINCT CASE WHEN kind = 'add_to_cart' THEN session_id END) AS BIGINT) AS sessions_with_cart,
        CAST(SUM(CASE WHEN kind = 'page_view' THEN 1 ELSE 0 END) AS BIGINT) AS page_views,
        CAST(SUM(CASE WHEN kind = 'add_to_cart' THEN 1 ELSE 0 END) AS BIGINT) AS add_to_carts
    FROM clean_events
    GROUP BY day
),
placed AS (
    SELECT day, CAST(COUNT(*) AS BIGINT) AS orders
    FROM sales_orders
    GROUP BY day
),
days AS (
    SELECT day FROM clicks
    UNION
    SELECT day FROM placed
),
funnel AS (
    SELECT
        d.day,
        CAST(COALESCE(c.sessions_with_view, 0) AS BIGINT) AS sessions_with_view,
        CAST(COALESCE(c.sessions_with_cart, 0) AS BIGINT) AS sessions_with_cart,
        CAST(COALESCE(p.orders, 0) AS BIGINT) AS orders,
        CAST(COALESCE(c.page_views, 0) AS BIGINT) AS page_views,
        CAST(COALESCE(c.add_to_carts, 0) AS BIGINT) AS add_to_carts
    FROM days AS d
    LEFT JOIN clicks AS c ON c.day = d.day
    LEFT JOIN placed AS p ON p.day = d.day
)
SELECT
    day,
    sessions_with_view,
    sessions_with_cart,
    orders,
    page_views,
    add_to_carts,
    CASE WHEN sessions_with_view > 0 THEN CAST(sessions_with_cart AS DOUBLE) / sessions_with_view END
        AS view_to_cart_rate,
    CASE WHEN sessions_with_cart > 0 THEN CAST(orders AS DOUBLE) / sessions_with_cart END AS cart_to_order_rate
FROM funnel
