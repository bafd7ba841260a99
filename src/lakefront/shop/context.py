"""What every use case is handed: the adapters, built once per process by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from lakefront.data.cache import CacheAside
from lakefront.data.objects import ObjectStore
from lakefront.data.uow import UnitOfWorkFactory
from lakefront.shop.media import ImageLimits
from lakefront.shop.throttle import Throttle
from lakefront.shop.tokens import TokenPolicy


@dataclass(frozen=True)
class ShopContext:
    uow: UnitOfWorkFactory
    cache: CacheAside
    images: ObjectStore
    """The images bucket: product images only (the lake and backups have buckets of their own)."""
    image_limits: ImageLimits
    throttle: Throttle
    """Sign-in and sign-up limits, counted in the cache every instance shares."""
    tokens: TokenPolicy
    """Bearer-token lifetimes."""
