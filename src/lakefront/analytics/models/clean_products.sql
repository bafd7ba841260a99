-- clean_products: every product as it is now, hidden ones included (deletes are soft: is_active = false).
-- From: raw_products (every committed row version).
-- Grain: one row per product id.
SELECT id, sku, name, category_id, price_cents, stock, is_active, popularity, created_at, updated_at
FROM (
    SELECT
        id, sku, name, category_id, price_cents, stock, is_active, popularity, created_at, updated_at,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_products
) AS versions
WHERE version_rank = 1
