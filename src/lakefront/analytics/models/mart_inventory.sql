-- mart_inventory: stock against recent demand, to see what to reorder.
-- From: clean_products, clean_categories, sales_lines.
-- Grain: one row per product, hidden ones included (is_active = false).
-- as_of_day: the latest day with a sale in the lake (not today's date, so a re-run on the same data gives the same
-- rows); units_sold_30d: units sold in the 30 days ending on as_of_day; days_of_cover: whole days the stock lasts at
-- that rate, stock * 30 / units_sold_30d rounded down (null without sales); low_stock: an active product with at
-- most 5 left, or with less than 14 days of cover.
WITH as_of AS (
    SELECT MAX(day) AS as_of_day FROM sales_lines
),
recent AS (
    SELECT s.product_id, CAST(SUM(s.quantity) AS BIGINT) AS units_sold_30d
    FROM sales_lines AS s
    CROSS JOIN as_of AS a
    WHERE s.day > a.as_of_day - INTERVAL 30 DAY
    GROUP BY s.product_id
),
stock AS (
    SELECT
        p.id AS product_id,
        p.name,
        p.category_id,
        c.name AS category_name,
        CAST(p.stock AS BIGINT) AS stock,
        p.is_active,
        a.as_of_day,
        CAST(COALESCE(r.units_sold_30d, 0) AS BIGINT) AS units_sold_30d
    FROM clean_products AS p
    CROSS JOIN as_of AS a
    LEFT JOIN clean_categories AS c ON c.id = p.category_id
    LEFT JOIN recent AS r ON r.product_id = p.id
)
SELECT
    product_id,
    name,
    category_id,
    category_name,
    stock,
    is_active,
    as_of_day,
    units_sold_30d,
    CASE WHEN units_sold_30d > 0 THEN CAST(FLOOR(stock * 30 / units_sold_30d) AS BIGINT) END AS days_of_cover,
    is_active AND (stock <= 5 OR stock * 30 < units_sold_30d * 14) AS low_stock
FROM stock
