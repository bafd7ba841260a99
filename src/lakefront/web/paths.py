"""What may come out of a URL path into the web tier's handlers and, from them, into an app-tier URL.

Ids are the database's BIGINT keys: a path segment that is not a decimal 1..2**63-1 matches no route
(so it is the 404 page, and never reaches the app tier). Strings the web tier forwards in an app-tier
path (slugs, media keys, dashboard ids) are refused when they hold control characters or dot segments
and percent-encoded otherwise, so no value can change which app-tier URL is asked.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException

MAX_ID = 2**63 - 1
MAX_SEGMENT = 200
MAX_KEY = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def decimal_at_most(bound: int) -> str:
    """A regex matching exactly the decimal numbers 1..bound, written without leading zeros.

    The bound has to be in the pattern itself: a route whose convertor raises on a value
    out of range would answer 500, and one that matches it would send it to the app tier.
    """
    digits = str(bound)
    shorter = f"[1-9][0-9]{{0,{len(digits) - 2}}}" if len(digits) > 1 else ""
    same_length = []
    for i, digit in enumerate(digits):
        # Equal up to position i, smaller at i, anything after it.
        low = 1 if i == 0 else 0
        if int(digit) > low:
            same_length.append(f"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{len(digits) - i - 1}}}")
    same_length.append(digits)
    return "(?:" + "|".join(filter(None, [shorter, *same_length])) + ")"


class IdConvertor(Convertor[int]):
    """`{name:id}`: a database id, 1..2**63-1, as an int."""

    regex = decimal_at_most(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"not an id: {value}")
        return str(value)


register_url_convertor("id", IdConvertor())


def is_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


def safe_segment(value: str) -> bool:
    """One path segment the web tier may forward: no control characters, no slash, not a dot segment."""
    return (0 < len(value) <= MAX_SEGMENT and "/" not in value and value not in (".", "..")
            and not _CONTROL.search(value))


def safe_key(value: str) -> bool:
    """An object key (segments joined by "/"), each segment as safe_segment wants it."""
    return len(value) <= MAX_KEY and all(safe_segment(part) for part in value.split("/"))


# The three below build app-tier URL paths. A value that cannot name anything is the 404 page
# at once: asking the app tier would at best say the same, at worst ask it something else.
def id_part(value: int) -> str:
    if not is_id(value):
        raise HTTPException(404)
    return str(value)


def name_part(value: str) -> str:
    """A slug or id as one percent-encoded path segment ("/" included)."""
    if not safe_segment(value):
        raise HTTPException(404)
    return quote(value, safe="")


def key_part(value: str) -> str:
    """An object key: each segment percent-encoded, the "/" between them kept."""
    if not safe_key(value):
        raise HTTPException(404)
    return "/".join(quote(part, safe="") for part in value.split("/"))
