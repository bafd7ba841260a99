"""Accounts: sign up, sign in, sign out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lakefront.api.deps import ClientAddress, Ctx, Customer, Token
from lakefront.api.openapi import SIGNED_IN, responses
from lakefront.api.schemas import CustomerPublic, SignIn, SignUp, SignUpAccepted, TokenPublic
from lakefront.shop import customers
from lakefront.shop.customers import PublicCustomer, SignedIn, SignUpAnswer
from lakefront.shop.errors import NotAuthenticated

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/signup", response_model=SignUpAccepted, status_code=202, responses=responses(429, 503))
def sign_up(ctx: Ctx, body: SignUp, address: ClientAddress) -> SignUpAnswer:
    """Ask for an account (the same answer whether or not the email is registered); then sign in."""
    return customers.sign_up(ctx, email=body.email, name=body.name, password=body.password, address=address)


@router.post("/auth/signin", response_model=TokenPublic, responses=responses(401, 429, 503))
def sign_in(ctx: Ctx, body: SignIn, address: ClientAddress) -> SignedIn:
    """Exchange email and password for a bearer token (throttled per account and address)."""
    return customers.sign_in(ctx, email=body.email, password=body.password, address=address)


@router.post("/auth/signout", status_code=204, response_class=Response, responses=responses(*SIGNED_IN))
def sign_out(ctx: Ctx, token: Token, _: Customer) -> Response:
    """Revoke the bearer token (which must be valid: an unknown one is a 401, like everywhere else)."""
    if token is None:
        raise NotAuthenticated()
    customers.sign_out(ctx, token)
    return Response(status_code=204)


@router.get("/me", response_model=CustomerPublic, responses=responses(*SIGNED_IN))
def me(customer: Customer) -> PublicCustomer:
    """The signed-in customer."""
    return customer
