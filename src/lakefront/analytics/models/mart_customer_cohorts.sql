-- mart_customer_cohorts: monthly retention. A customer's cohort is the month (UTC) of their first non-cancelled
-- order; months_since counts calendar months from it (0 = the cohort month itself).
-- From: sales_orders.
-- Grain: one row per (cohort_month, months_since) with at least one active customer; a missing row means 0.
-- active_customers: distinct cohort members with a non-cancelled order that month; cohort_size: members;
-- retention: active_customers / cohort_size (1.0 at months_since 0).
WITH activity AS (
    SELECT DISTINCT
        customer_id,
        CAST(DATE_TRUNC('month', first_order_day) AS DATE) AS cohort_month,
        CAST(DATE_TRUNC('month', day) AS DATE) AS order_month
    FROM sales_orders
),
sizes AS (
    SELECT cohort_month, CAST(COUNT(DISTINCT customer_id) AS BIGINT) AS cohort_size
    FROM activity
    GROUP BY cohort_month
),
active AS (
    SELECT
        cohort_month,
        CAST((EXTRACT(YEAR FROM order_month) - EXTRACT(YEAR FROM cohort_month)) * 12
             + EXTRACT(MONTH FROM order_month) - EXTRACT(MONTH FROM cohort_month) AS BIGINT) AS months_since,
        CAST(COUNT(DISTINCT customer_id) AS BIGINT) AS active_customers
    FROM activity
    GROUP BY cohort_month, order_month
)
SELECT
    a.cohort_month,
    a.months_since,
    a.active_customers,
    s.cohort_size,
    CAST(a.active_customers AS DOUBLE) / s.cohort_size AS retention
FROM active AS a
JOIN sizes AS s ON s.cohort_month = a.cohort_month
