-- sales_lines: the lines of orders that count as sales, with their product and category as they are now.
-- From: sales_orders, clean_order_lines, clean_products, clean_categories (a line whose product is not in the
-- lake yet keeps its revenue, with null product and category names).
-- Grain: one row per order line of a non-cancelled order.
SELECT
    l.id AS line_id,
    l.order_id,
    o.customer_id,
    o.day,
    l.product_id,
    p.name AS product_name,
    p.category_id,
    c.name AS category_name,
    l.quantity,
    l.line_total_cents
FROM clean_order_lines AS l
JOIN sales_orders AS o ON o.order_id = l.order_id
LEFT JOIN clean_products AS p ON p.id = l.product_id
LEFT JOIN clean_categories AS c ON c.id = p.category_id
