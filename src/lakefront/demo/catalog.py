"""Categories and products: names, slugs, descriptions, prices, stock, and a few price changes."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lakefront.demo.plan import Plan, allocate
from lakefront.demo.vocabulary import ADJECTIVES, CATEGORIES, FEATURES, MATERIALS, CategorySpec


@dataclass
class Category:
    id: int
    spec: CategorySpec
    slug: str
    created_at: datetime

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "name": self.spec.name,
                "description": self.spec.description, "created_at": self.created_at,
                "updated_at": self.created_at}


@dataclass
class Product:
    id: int
    sku: str
    slug: str
    name: str
    description: str
    category: Category
    price_cents: int
    stock: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    # The price before `price_changed_at`; order lines placed earlier use it.
    old_price_cents: int | None = None
    price_changed_at: datetime | None = None
    image_key: str | None = None
    thumb_key: str | None = None
    popularity: int = 0

    def price_at(self, when: datetime) -> int:
        if self.old_price_cents is not None and self.price_changed_at is not None \
                and when < self.price_changed_at:
            return self.old_price_cents
        return self.price_cents

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "sku": self.sku, "slug": self.slug, "name": self.name,
                "description": self.description, "category_id": self.category.id,
                "price_cents": self.price_cents, "stock": self.stock, "image_key": self.image_key,
                "thumb_key": self.thumb_key, "is_active": self.is_active, "popularity": self.popularity,
                "created_at": self.created_at, "updated_at": self.updated_at}


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")


def _price(rng: random.Random, low: int, high: int) -> int:
    # Log-uniform: a category has many cheap items and a few expensive ones; prices end in .99 or .49.
    cents = math.exp(rng.uniform(math.log(low), math.log(high)))
    dollars = max(1, round(cents / 100))
    return dollars * 100 - (51 if dollars < 10 and rng.random() < 0.5 else 1)


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.03:
        return 0
    if roll < 0.13:
        return rng.randint(1, 5)
    return int(math.exp(rng.uniform(math.log(10), math.log(400))))


def _description(rng: random.Random, name: str, spec: CategorySpec) -> str:
    features = rng.sample(FEATURES, 2)
    return f"The {name} from our {spec.name.lower()} range. {features[0]} {features[1]}"


def build_catalog(plan: Plan, rng: random.Random) -> tuple[list[Category], list[Product]]:
    specs = rng.sample(CATEGORIES, plan.n_categories)
    specs.sort(key=lambda spec: spec.name)
    opened = plan.start - timedelta(days=730)
    categories = [
        Category(id=i + 1, spec=spec, slug=slugify(spec.name),
                 created_at=opened + timedelta(seconds=rng.randrange(86_400 * 30)))
        for i, spec in enumerate(specs)
    ]
    per_category = allocate(plan.n_products, [rng.uniform(0.6, 1.4) for _ in categories])

    drafts: list[tuple[datetime, Category, str, int]] = []
    seen_names: set[str] = set()
    for category, count in zip(categories, per_category, strict=True):
        for _ in range(count):
            for _attempt in range(8):
                name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(category.spec.nouns)}"
                if name not in seen_names:
                    break
            seen_names.add(name)
            # Products arrived over the two years before the history starts, after their category
            # (which opened at most 30 days after `opened`), so every order finds its products.
            created = category.created_at + timedelta(days=30, seconds=rng.randrange(86_400 * 600))
            low, high = category.spec.price_range_cents
            drafts.append((created, category, name, _price(rng, low, high)))
    drafts.sort(key=lambda d: (d[0], d[2]))

    products: list[Product] = []
    seen_slugs: set[str] = set()
    for index, (created, category, name, price) in enumerate(drafts):
        product_id = index + 1
        slug = slugify(name)
        if slug in seen_slugs:
            slug = f"{slug}-{product_id}"
        seen_slugs.add(slug)
        product = Product(
            id=product_id,
            sku=f"{category.spec.code}-{product_id:06d}",
            slug=slug,
            name=name,
            description=_description(rng, name, category.spec),
            category=category,
            price_cents=price,
            stock=_stock(rng),
            is_active=rng.random() >= 0.02,
            created_at=created,
            updated_at=created,
        )
        if rng.random() < 0.1:
            changed = plan.start + timedelta(seconds=rng.randrange(86_400 * 365))
            old = max(99, round(price * rng.uniform(0.8, 1.2) / 100) * 100 - 1)
            if old != price:
                product.old_price_cents = old
                product.price_changed_at = changed
                product.updated_at = changed
        products.append(product)
    return categories, products
