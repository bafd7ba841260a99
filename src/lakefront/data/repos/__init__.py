"""Repositories: SQL for one aggregate each, on the connection of a unit of work. They never commit."""
