"""Every cache key and TTL in one place, and what each kind of write makes stale.

Product pages are cached per product and deleted when that product changes. Listings, search
results, the home page and the category list live in the "catalog" namespace: their keys embed
the namespace's generation, so one increment retires all of them at once on every instance.
"""

from __future__ import annotations

import hashlib

CATALOG = "catalog"

PRODUCT_TTL_S = 300
LISTING_TTL_S = 120
SEARCH_TTL_S = 60
HOME_TTL_S = 60
CATEGORIES_TTL_S = 300


def product(product_id: int) -> str:
    return f"product:{product_id}"


def categories(generation: int) -> str:
    return f"{CATALOG}:{generation}:categories"


def home(generation: int) -> str:
    return f"{CATALOG}:{generation}:home"


def listing(generation: int, category: str, sort: str, page: int, per_page: int) -> str:
    return f"{CATALOG}:{generation}:list:{category}:{sort}:{page}:{per_page}"


def search(generation: int, query: str, category: str, sort: str, page: int, per_page: int) -> str:
    digest = hashlib.sha256(query.encode()).hexdigest()[:24]
    return f"{CATALOG}:{generation}:search:{digest}:{category}:{sort}:{page}:{per_page}"
