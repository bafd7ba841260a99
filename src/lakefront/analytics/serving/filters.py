"""Dashboard filters as a request gives them: from and to (YYYY-MM-DD, inclusive) and a category slug."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lakefront.analytics.errors import FilterError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9\-]{0,79}$")


@dataclass(frozen=True)
class Filters:
    """Filter values as the request gave them (checked for form; the category slug is resolved later)."""

    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None


def parse_filters(date_from: str | None, date_to: str | None, category: str | None) -> Filters:
    """Check the query parameters' form; FilterError naming from, to or category."""

    def day(name: str, value: str | None) -> date | None:
        if value is None or value == "":
            return None
        try:
            if not _DATE.match(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            raise FilterError(name, f"{name} must be a date as YYYY-MM-DD, got {value[:40]!r}") from None

    start, end = day("from", date_from), day("to", date_to)
    if start is not None and end is not None and start > end:
        raise FilterError("to", f"to ({end}) is before from ({start})")
    if category == "":
        category = None
    if category is not None and not _SLUG.match(category):
        raise FilterError("category", f"category must be a category slug, got {category[:40]!r}")
    return Filters(start, end, category)
