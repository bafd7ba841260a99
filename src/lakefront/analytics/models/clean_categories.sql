-- clean_categories: every category as it is now (the latest committed version of each row).
-- From: raw_categories (every committed row version in the lake's current generation).
-- Grain: one row per category id.
SELECT id, slug, name, created_at, updated_at
FROM (
    SELECT
        id, slug, name, created_at, updated_at,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_categories
) AS versions
WHERE version_rank = 1
