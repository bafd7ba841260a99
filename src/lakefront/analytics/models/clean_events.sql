-- clean_events: the clickstream (page_view, add_to_cart), with day, the UTC date of occurred_at.
-- From: raw_events (events are never updated, but a re-extracted version must not count twice).
-- Grain: one row per event id.
SELECT
    id, occurred_at, CAST(occurred_at AS DATE) AS day, kind, session_id, customer_id, product_id
FROM (
    SELECT
        id, occurred_at, kind, session_id, customer_id, product_id,
        ROW_NUMBER() OVER (PARTITION BY id ORDER BY updated_at DESC) AS version_rank
    FROM raw_events
) AS versions
WHERE version_rank = 1
