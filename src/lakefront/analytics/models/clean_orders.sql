-- clean_orders: every order in its latest status, cancelled ones included (a cancellation is an update),
-- with placed_day, the UTC date of placed_at, by which every mart dates an order.
-- From: raw_orders (every committed row version).
-- Grain: one row per order id.
SELECT
    id, customer_id, status, total_cents, item_count, placed_at,
    CAST(placed_at AS DATE) AS placed_day,
    created_at, updated_at
FROM (
    SELECT
        id, customer_id, status, total_cents, item_count, placed_at, created_at, updated_at,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_orders
) AS versions
WHERE version_rank = 1
