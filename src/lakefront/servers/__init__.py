"""The real servers the control plane runs (Caddy, MariaDB, Redis, SeaweedFS): one lifecycle (base.py),
a module per server, and where the services profile keeps each under var/ (managed.py)."""
