"""Start, stop and check the readiness of real servers (Caddy today)."""
