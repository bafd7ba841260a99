"""Composition root of an app instance, and the request dependencies routes declare."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lakefront.analytics.serving import Analytics, build_analytics
from lakefront.data.cache import CacheAside, make_backend
from lakefront.data.endpoints import EndpointsFile
from lakefront.data.engines import Engines, make_engines
from lakefront.data.objects import make_object_store
from lakefront.data.routing import RoutedEngines
from lakefront.data.uow import UnitOfWorkFactory
from lakefront.settings import Settings
from lakefront.store import customers
from lakefront.store.context import StoreContext
from lakefront.store.errors import Forbidden, NotAuthenticated
from lakefront.store.media import ImageLimits
from lakefront.store.throttle import Throttle, ThrottlePolicy, Window
from lakefront.store.tokens import TokenPolicy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class AppServices:
    settings: Settings
    instance: str
    engines: Engines
    ctx: StoreContext
    analytics: Analytics
    """Dashboards (checked at start-up) and the query service over the lake's marts."""
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)
    """Peers whose X-Forwarded-For names the client (settings.lb.trusted_proxies)."""

    def close(self) -> None:
        self.analytics.close()
        self.ctx.cache.backend.close()
        self.engines.dispose()


def database_engines(settings: Settings) -> Engines:
    """Fixed endpoints from the settings, or (services profile with a standby) the ones the failover
    monitor publishes, followed without a restart."""
    endpoints_file = settings.db_endpoints_file
    if endpoints_file is None:
        return make_engines(settings.writer_url, settings.reader_url, busy_timeout_ms=settings.db.busy_timeout_ms,
                            pool_size=settings.db.pool_size)
    return RoutedEngines(EndpointsFile(endpoints_file), user=settings.db.user,
                         password=settings.db.password.get_secret_value(), database=settings.db.name,
                         pool_size=settings.db.pool_size, max_lag_ms=settings.db.max_replica_lag_ms,
                         failover_wait_s=settings.db.failover_wait_s)


def build_services(settings: Settings, instance: str) -> AppServices:
    """Build every adapter this process uses, chosen by the settings' profile, in one place."""
    engines = database_engines(settings)
    cache = CacheAside(make_backend(settings.cache_backend, settings.cache_path, settings.redis_url,
                                    settings.cache.timeout_s))
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
    ctx = StoreContext(uow=UnitOfWorkFactory(engines, fresh_window_s=fresh_window_s), cache=cache, images=images,
                       image_limits=limits, throttle=throttle, tokens=token_policy)
    analytics = build_analytics(settings)
    trusted = tuple(ipaddress.ip_network(net) for net in settings.lb.trusted_proxies)
    return AppServices(settings=settings, instance=instance, engines=engines, ctx=ctx, analytics=analytics,
                       trusted_proxies=trusted)


def services(request: Request) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]


def context(request: Request) -> StoreContext:
    return services(request).ctx


Ctx = Annotated[StoreContext, Depends(context)]


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request) -> str:
    """The shopper's address: the connecting peer, unless it is one of our proxies, in which case the
    X-Forwarded-For chain is walked from the right (each proxy appends the peer it saw) to the first
    hop that is not ours. Entries left of that were written by the client and are never read."""
    trusted = services(request).trusted_proxies
    address = request.client.host if request.client else "unknown"
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed(hops):
        if not _trusted(address, trusted):
            break
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # not an address our proxies would write: keep the last one they vouch for
    return address


ClientAddress = Annotated[str, Depends(client_address)]


# Declared as a security scheme, so the document says how to authenticate (and /docs can), rather than
# as a header parameter; read here by hand, so a malformed header is a 401, not an anonymous request.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="A token from POST /api/auth/signup or /api/auth/signin")


def bearer_token(request: Request,
                 _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str | None:
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Authorization must be 'Bearer <token>'")
    return token.strip()


Token = Annotated[str | None, Depends(bearer_token)]


def current_customer(ctx: Ctx, token: Token) -> dict[str, Any]:
    if token is None:
        raise NotAuthenticated()
    return customers.authenticate(ctx, token)


def optional_customer(ctx: Ctx, token: Token) -> dict[str, Any] | None:
    return None if token is None else customers.authenticate(ctx, token)


def admin(customer: Annotated[dict[str, Any], Depends(current_customer)]) -> dict[str, Any]:
    if not customer["is_admin"]:
        raise Forbidden("admins only")
    return customer


Customer = Annotated[dict[str, Any], Depends(current_customer)]
MaybeCustomer = Annotated[dict[str, Any] | None, Depends(optional_customer)]
Admin = Annotated[dict[str, Any], Depends(admin)]
