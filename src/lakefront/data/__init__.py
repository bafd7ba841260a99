"""Data tier adapters: tables, engines, unit of work, cache, object store, migrations."""
