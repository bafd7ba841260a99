"""Domain errors. The app tier maps each to an HTTP problem; nothing here knows about HTTP."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error a use case raises on purpose."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(StoreError):
    """The request names a value the rules refuse; `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class NotFound(StoreError):
    """No such thing, or not yours to see (we do not reveal which)."""

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found")
        self.resource = resource


class Conflict(StoreError):
    """The request clashes with current state (a taken email, a duplicate SKU)."""


class OutOfStock(Conflict):
    def __init__(self, product_id: int, name: str, available: int) -> None:
        super().__init__(f"only {available} of {name!r} left in stock", "items")
        self.product_id = product_id
        self.available = available


class EmptyCart(Conflict):
    def __init__(self) -> None:
        super().__init__("the cart is empty", "items")


class NotAuthenticated(StoreError):
    def __init__(self, message: str = "sign in first") -> None:
        super().__init__(message)


class Forbidden(StoreError):
    def __init__(self, message: str = "not allowed") -> None:
        super().__init__(message)


class Throttled(StoreError):
    """Too many attempts from this account or address: refused before any work, retry later."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
