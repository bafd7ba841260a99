-- clean_order_lines: every order line as it is now.
-- From: raw_order_lines (every committed row version).
-- Grain: one row per order line id.
SELECT id, order_id, product_id, quantity, unit_price_cents, line_total_cents, created_at, updated_at
FROM (
    SELECT
        id, order_id, product_id, quantity, unit_price_cents, line_total_cents, created_at, updated_at,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_order_lines
) AS versions
WHERE version_rank = 1
