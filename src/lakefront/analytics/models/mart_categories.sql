-- mart_categories: every category with its slug, for the dashboards' category filter, and its stock on hand.
-- From: clean_categories, clean_products.
-- Grain: one row per category id, including categories without products.
-- active_products: products with is_active; stock_units: their stock, summed (hidden products count in neither).
WITH active AS (
    SELECT
        category_id,
        CAST(COUNT(*) AS BIGINT) AS active_products,
        CAST(SUM(stock) AS BIGINT) AS stock_units
    FROM clean_products
    WHERE is_active
    GROUP BY category_id
)
SELECT
    c.id AS category_id,
    c.slug,
    c.name,
    CAST(COALESCE(a.active_products, 0) AS BIGINT) AS active_products,
    CAST(COALESCE(a.stock_units, 0) AS BIGINT) AS stock_units
FROM clean_categories AS c
LEFT JOIN active AS a ON a.category_id = c.id
