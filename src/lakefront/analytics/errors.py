"""The analytics side's errors: one hierarchy, so the CLI and the API each map it in one place.

Every message is one line a user can act on. The API (api/problems.py) answers FilterError with 422 naming the
field and LakeUnavailable with 503 and Retry-After; the CLI prints any AnalyticsError as one line and exits 2.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Something the analytics side refuses or could not do; the message is one line."""


class LakeError(AnalyticsError):
    """The lake's catalog or tables could not be read or written as asked."""


class CommitConflict(LakeError):
    """Another run committed the table since this one started from it: this run committed nothing."""


class LakeUnavailable(LakeError):
    """The lake could not be read and nothing was loaded before: retry shortly."""


class ExtractError(AnalyticsError):
    """A request the extractor refuses (unknown table, missing database table) or a run that could not commit."""


class ProcessError(AnalyticsError):
    """A run the runner refuses (unknown model, nothing to read) or one that failed."""


class ComputeError(ProcessError):
    """A compute engine could not start, read the lake, or run a model; the message names it."""


class ModelError(ProcessError):
    """A model file is malformed, refers to an unknown table, is part of a cycle, or was asked for but does not
    exist; the message names the model."""


class QueryError(AnalyticsError):
    """An interactive query the SQL service refuses (not read-only) or that failed; the message is DuckDB's."""


class FilterError(AnalyticsError):
    """A dashboard filter value the query service refuses; `field` is the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message
