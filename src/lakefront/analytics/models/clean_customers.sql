-- clean_customers: every customer account as it is now (the lake never holds password hashes).
-- From: raw_customers (every committed row version).
-- Grain: one row per customer id.
SELECT id, name, is_admin, created_at, updated_at
FROM (
    SELECT
        id, name, is_admin, created_at, updated_at,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_customers
) AS versions
WHERE version_rank = 1
