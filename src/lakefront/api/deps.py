"""The request dependencies routes declare: the shop's context, the client's address, the signed-in customer.

What they hand out was built once per process by api/bootstrap.py.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lakefront.api.bootstrap import AppServices, Network
from lakefront.shop import customers
from lakefront.shop.context import ShopContext
from lakefront.shop.customers import PublicCustomer
from lakefront.shop.errors import Forbidden, NotAuthenticated


def services(request: Request) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]


def context(request: Request) -> ShopContext:
    return services(request).ctx


Ctx = Annotated[ShopContext, Depends(context)]


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


def current_customer(ctx: Ctx, token: Token) -> PublicCustomer:
    if token is None:
        raise NotAuthenticated()
    return customers.authenticate(ctx, token)


def optional_customer(ctx: Ctx, token: Token) -> PublicCustomer | None:
    return None if token is None else customers.authenticate(ctx, token)


def admin(customer: Annotated[PublicCustomer, Depends(current_customer)]) -> PublicCustomer:
    if not customer["is_admin"]:
        raise Forbidden("admins only")
    return customer


Customer = Annotated[PublicCustomer, Depends(current_customer)]
MaybeCustomer = Annotated[PublicCustomer | None, Depends(optional_customer)]
Admin = Annotated[PublicCustomer, Depends(admin)]
