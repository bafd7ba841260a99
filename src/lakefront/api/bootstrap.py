"""Composition root of an app instance: every adapter it uses, chosen by the settings' profile, built once.

create_app() calls build_services() at start-up; routes reach the result through api/deps.py.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from lakefront.analytics.serving import Analytics, build_analytics
from lakefront.data.cache import CacheAside, make_backend
from lakefront.data.engines import Engines
from lakefront.data.objects import make_object_store
from lakefront.data.routing import engines_for
from lakefront.data.uow import UnitOfWorkFactory
from lakefront.settings import Settings
from lakefront.shop.context import ShopContext
from lakefront.shop.media import ImageLimits
from lakefront.shop.throttle import Throttle, ThrottlePolicy, Window
from lakefront.shop.tokens import TokenPolicy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class AppServices:
    settings: Settings
    instance: str
    engines: Engines
    ctx: ShopContext
    analytics: Analytics
    """Dashboards (checked at start-up) and the query service over the lake's marts."""
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)
    """Peers whose X-Forwarded-For names the client (settings.lb.trusted_proxies)."""

    def close(self) -> None:
        self.analytics.close()
        self.ctx.cache.close()
        self.ctx.cache.backend.close()
        self.engines.dispose()


def build_services(settings: Settings, instance: str) -> AppServices:
    """Build every adapter this process uses, chosen by the settings' profile, in one place."""
    engines = engines_for(settings)
    cache = CacheAside(make_backend(settings.cache_backend, settings.cache_path, settings.redis_url,
                                    settings.cache.timeout_s, mode=settings.cache_mode,
                                    window_timeout_s=settings.cache.window_timeout_s))
    images = make_object_store(settings, "images")
    limits = ImageLimits(settings.media.max_upload_bytes, settings.media.max_pixels, settings.media.image_size,
                         settings.media.thumb_size)
    # Reads that refill the cache after a write go to the primary for twice the lag bound: the bound,
    # plus up to one lag measurement's age.
    fresh_window_s = 2 * settings.db.max_replica_lag_ms / 1000 if settings.replicated or engines.routes_reads else 0.0
    auth = settings.auth
    throttle = Throttle(cache.backend, ThrottlePolicy(
        signin_account=Window(auth.signin_account_limit, auth.signin_window_s),
        signin_address=Window(auth.signin_address_limit, auth.signin_window_s),
        signup_address=Window(auth.signup_address_limit, auth.signup_window_s)))
    token_policy = TokenPolicy(idle=timedelta(seconds=auth.token_idle_s),
                               absolute=timedelta(seconds=auth.token_absolute_s),
                               renew_after=timedelta(seconds=auth.token_renew_after_s))
    ctx = ShopContext(uow=UnitOfWorkFactory(engines, fresh_window_s=fresh_window_s), cache=cache, images=images,
                      image_limits=limits, throttle=throttle, tokens=token_policy)
    analytics = build_analytics(settings)
    trusted = tuple(ipaddress.ip_network(net) for net in settings.lb.trusted_proxies)
    return AppServices(settings=settings, instance=instance, engines=engines, ctx=ctx, analytics=analytics,
                       trusted_proxies=trusted)
